"""Batch jobs and records in SQL: bulk reads and writes per chunk, and the worker's claim on a job.

Claims are safe with any number of workers: on PostgreSQL the candidate row is locked with
`FOR UPDATE SKIP LOCKED`; on every backend the claiming UPDATE re-checks the job is still claimable, so
two workers can never both take it (SQLite serialises writers anyway).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from lrs_ws.db.tables import achievements, audit_events, learning_aims, organisations
from lrs_ws.db.tables_batch import batch_jobs as J
from lrs_ws.db.tables_batch import batch_records as R
from lrs_ws.domain import batch as b
from lrs_ws.domain import model
from lrs_ws.domain.values import Page
from lrs_ws.service.batch_ports import ChunkContext, NewJob, PendingRecord
from lrs_ws.service.uow import Aim

INSERT_BATCH = 1000

_COUNT_COLUMNS = {
    "done": "records_done",
    "created": "created",
    "updated": "updated",
    "withdrawn": "withdrawn",
    "reinstated": "reinstated",
    "promoted": "promoted",
    "field_errors": "field_errors",
    "learner_errors": "learner_errors",
    "business_errors": "business_errors",
    "successful_final": "successful_final",
    "successful_provisional": "successful_provisional",
}

_JOB_COLUMNS = [J, organisations.c.ref.label("organisation_ref")]


def _job(row: Any) -> b.BatchJob:
    counts = b.BatchCounts(
        records=row.record_count, **{k: getattr(row, c) for k, c in _COUNT_COLUMNS.items()}
    )
    return b.BatchJob(
        id=row.id,
        organisation_id=row.organisation_id,
        organisation_ref=row.organisation_ref,
        user_id=row.user_id,
        username=row.username,
        email=row.email,
        submission_type=row.submission_type,
        source=row.source,
        filename=row.filename,
        status=row.status,
        submitted_at=row.submitted_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        counts=counts,
        rejection_reason=row.rejection_reason,
        attempts=row.attempts,
    )


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class BatchRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _select_jobs(self):  # type: ignore[no-untyped-def]
        return select(*_JOB_COLUMNS).join(organisations, organisations.c.id == J.c.organisation_id)

    # -- submission and reading ------------------------------------------------------------------------

    def add_job(self, job: NewJob) -> int:
        result = self.session.execute(
            insert(J).values(
                organisation_id=job.organisation_id,
                user_id=job.user_id,
                username=job.username,
                email=job.email,
                submission_type=job.submission_type,
                source=job.source,
                filename=job.filename,
                status=b.WAITING,
                submitted_at=job.submitted_at,
                **{c: 0 for c in _COUNT_COLUMNS.values()},
                record_count=0,
                attempts=0,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def add_records(self, job_id: int, records: Iterable[tuple[int, str]]) -> int:
        total = 0
        for batch in _chunks(records, INSERT_BATCH):
            self.session.execute(
                insert(R),
                [
                    {
                        "job_id": job_id, "line_no": line, "payload": payload, "state": b.PENDING,
                        "promoted": False,
                    }
                    for line, payload in batch
                ],
            )
            total += len(batch)
        return total

    def set_record_count(self, job_id: int, count: int) -> None:
        self.session.execute(update(J).where(J.c.id == job_id).values(record_count=count))

    def get(self, job_id: int, organisation_id: int | None) -> b.BatchJob | None:
        stmt = self._select_jobs().where(J.c.id == job_id)
        if organisation_id is not None:
            stmt = stmt.where(J.c.organisation_id == organisation_id)
        row = self.session.execute(stmt).first()
        return _job(row) if row else None

    def list(self, organisation_id: int, page: Page) -> tuple[int, Sequence[b.BatchJob]]:
        total = self.session.scalar(
            select(func.count()).select_from(J).where(J.c.organisation_id == organisation_id)
        ) or 0
        rows = self.session.execute(
            self._select_jobs()
            .where(J.c.organisation_id == organisation_id)
            .order_by(J.c.id.desc())
            .offset(page.offset)
            .limit(page.size)
        ).all()
        return total, [_job(r) for r in rows]

    def failed_records(self, job_id: int) -> Iterator[b.FailedRecord]:
        stmt = (
            select(R.c.line_no, R.c.payload, R.c.error_code, R.c.error_message)
            .where(R.c.job_id == job_id, R.c.state == b.REFUSED)
            .order_by(R.c.line_no)
            .execution_options(yield_per=2000)
        )
        for row in self.session.execute(stmt):
            yield b.FailedRecord(row.line_no, row.payload, row.error_code or "", row.error_message or "")

    def count_jobs(self) -> int:
        return self.session.scalar(select(func.count()).select_from(J)) or 0

    # -- the worker --------------------------------------------------------------------------------------

    @staticmethod
    def _claimable(now: datetime):  # type: ignore[no-untyped-def]
        return or_(
            J.c.status == b.WAITING,
            and_(
                J.c.status == b.IN_PROGRESS,
                or_(J.c.lease_expires_at.is_(None), J.c.lease_expires_at < now),
            ),
        )

    def claim(self, worker_id: str, now: datetime, lease_until: datetime) -> b.BatchJob | None:
        candidate = self.session.execute(
            select(J.c.id)
            .where(self._claimable(now))
            .order_by(J.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar()
        if candidate is None:
            return None
        taken = self.session.execute(
            update(J)
            .where(J.c.id == candidate, self._claimable(now))
            .values(
                status=b.IN_PROGRESS,
                worker_id=worker_id,
                lease_expires_at=lease_until,
                heartbeat_at=now,
                started_at=func.coalesce(J.c.started_at, now),
                # Counts take-overs from a worker that died (a job given back gracefully is Waiting again).
                attempts=J.c.attempts + case((J.c.status == b.IN_PROGRESS, 1), else_=0),
            )
        )
        if taken.rowcount != 1:
            return None
        return self.get(candidate, None)

    def renew_lease(self, job_id: int, worker_id: str, now: datetime, lease_until: datetime) -> bool:
        renewed = self.session.execute(
            update(J)
            .where(J.c.id == job_id, J.c.worker_id == worker_id, J.c.status == b.IN_PROGRESS)
            .values(lease_expires_at=lease_until, heartbeat_at=now)
        )
        return renewed.rowcount == 1

    def release(self, job_id: int, worker_id: str, now: datetime) -> None:
        self.session.execute(
            update(J)
            .where(J.c.id == job_id, J.c.worker_id == worker_id, J.c.status == b.IN_PROGRESS)
            .values(status=b.WAITING, lease_expires_at=None, heartbeat_at=now)
        )

    def pending_records(self, job_id: int, limit: int) -> Sequence[PendingRecord]:
        rows = self.session.execute(
            select(R.c.id, R.c.line_no, R.c.payload)
            .where(R.c.job_id == job_id, R.c.state == b.PENDING)
            .order_by(R.c.line_no)
            .limit(limit)
        ).all()
        return [PendingRecord(r.id, r.line_no, r.payload) for r in rows]

    def chunk_context(
        self, organisation_id: int, ulns: set[str], targets: set[tuple[str, str]], references: set[str]
    ) -> ChunkContext:
        learners: dict[str, model.Learner] = {}
        if ulns:
            for learner in self.session.scalars(
                select(model.Learner).where(model.Learner.uln.in_(sorted(ulns)))  # type: ignore[attr-defined]
            ):
                learners[learner.uln] = learner
        aims: dict[str, Aim] = {}
        if references:
            for row in self.session.execute(
                select(learning_aims).where(learning_aims.c.reference.in_(sorted(references)))
            ):
                aims[row.reference] = Aim(row.reference, row.title, row.aim_type, row.level)
        found: Sequence[model.Achievement] = []
        if targets:
            A = model.Achievement
            found = self.session.scalars(
                select(A)
                .where(
                    A.organisation_id == organisation_id,  # type: ignore[arg-type]
                    A.deleted.is_(False),  # type: ignore[attr-defined]
                    tuple_(A.uln, A.reference).in_(sorted(targets)),  # type: ignore[arg-type]
                )
                .order_by(A.id)  # type: ignore[arg-type]
            ).all()
        return ChunkContext(learners, aims, found)

    def insert_achievements(self, new: Sequence[model.Achievement], versions: Sequence[int]) -> None:
        if not new:
            return
        rows = [
            {
                "organisation_id": a.organisation_id,
                "uln": a.uln,
                "reference": a.reference,
                "title": a.title,
                "aim_type": a.aim_type,
                "level": a.level,
                "grade": a.grade,
                "award_date": a.award_date,
                "language": a.language,
                "provider_ukprn": a.provider_ukprn,
                "mis_identifier": a.mis_identifier,
                "status": a.status,
                "withdrawn": a.withdrawn,
                "withdrawn_reason": a.withdrawn_reason,
                "deleted": a.deleted,
                "under_challenge": a.under_challenge,
                "created_at": a.created_at,
                "updated_at": a.updated_at,
                "version": version,
            }
            for a, version in zip(new, versions, strict=True)
        ]
        ids = self.session.execute(
            insert(achievements).returning(achievements.c.id, sort_by_parameter_order=True), rows
        ).scalars().all()
        for a, new_id, version in zip(new, ids, versions, strict=True):
            a.id = new_id
            a.version = version

    def insert_audit_events(self, events: Sequence[dict[str, Any]]) -> None:
        if events:
            self.session.execute(insert(audit_events), list(events))

    def save_outcomes(self, outcomes: Sequence[b.RecordOutcome]) -> None:
        if not outcomes:
            return
        stmt = (
            update(R)
            .where(R.c.id == bindparam("b_id"))
            .values(
                state=bindparam("b_state"),
                outcome=bindparam("b_outcome"),
                promoted=bindparam("b_promoted"),
                achievement_status=bindparam("b_status"),
                achievement_id=bindparam("b_achievement"),
                error_code=bindparam("b_code"),
                error_category=bindparam("b_category"),
                error_message=bindparam("b_message"),
            )
        )
        self.session.execute(
            stmt,
            [
                {
                    "b_id": o.record_id,
                    "b_state": o.state,
                    "b_outcome": o.outcome,
                    "b_promoted": o.promoted,
                    "b_status": o.achievement_status,
                    "b_achievement": o.achievement_id,
                    "b_code": o.error_code,
                    "b_category": o.error_category,
                    "b_message": (o.error_message or "")[:500] or None,
                }
                for o in outcomes
            ],
        )

    def add_counts(self, job_id: int, delta: b.BatchCounts) -> None:
        changes = {
            c: getattr(J.c, c) + getattr(delta, k) for k, c in _COUNT_COLUMNS.items() if getattr(delta, k)
        }
        if changes:
            self.session.execute(update(J).where(J.c.id == job_id).values(**changes))

    def counts_from_records(self, job_id: int) -> b.BatchCounts:
        records = self.session.scalar(select(J.c.record_count).where(J.c.id == job_id)) or 0
        counts = b.BatchCounts(records=records)
        rows = self.session.execute(
            select(
                R.c.state, R.c.outcome, R.c.promoted, R.c.achievement_status, R.c.error_category,
                func.count().label("n"),
            )
            .where(R.c.job_id == job_id, R.c.state != b.PENDING)
            .group_by(R.c.state, R.c.outcome, R.c.promoted, R.c.achievement_status, R.c.error_category)
        ).all()
        for row in rows:
            if row.state == b.APPLIED:
                final = row.achievement_status == model.FINAL
                counts.count_applied(row.outcome, bool(row.promoted), final, row.n)
            else:
                counts.count_refused(row.error_category, row.n)
        return counts

    def finish(
        self, job_id: int, worker_id: str | None, status: str, reason: str | None, counts: b.BatchCounts,
        now: datetime,
    ) -> bool:
        stmt = update(J).where(J.c.id == job_id)
        if worker_id is not None:
            stmt = stmt.where(J.c.worker_id == worker_id)
        done = self.session.execute(
            stmt.values(
                status=status,
                ended_at=now,
                rejection_reason=reason,
                lease_expires_at=None,
                **{c: getattr(counts, k) for k, c in _COUNT_COLUMNS.items()},
            )
        )
        return done.rowcount == 1
