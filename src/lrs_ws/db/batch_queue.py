"""The batch job queue in SQL: jobs submitted, listed and cancelled, the worker's claim on a job and its
lease, and the job's counts and end.

Claims are safe with any number of workers: on PostgreSQL the candidate row is locked with
`FOR UPDATE SKIP LOCKED`; on every backend the claiming UPDATE re-checks the job is still claimable, so
two workers can never both take it (SQLite serialises writers anyway). A job's records in and out are in
`lrs_ws.db.batch_chunks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, and_, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from lrs_ws.db.tables import organisations, storable_id
from lrs_ws.db.tables_batch import batch_jobs as J
from lrs_ws.db.tables_batch import maintenance_runs
from lrs_ws.domain import batch as b
from lrs_ws.domain.batch import NewJob
from lrs_ws.domain.values import Page

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


def _cursor(result: Any) -> CursorResult[Any]:
    """The result of an INSERT/UPDATE statement (it has rowcount and inserted_primary_key)."""
    return cast(CursorResult[Any], result)


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
        kind=row.kind,
    )


class BatchQueueRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _select_jobs(self) -> Select[Any]:
        return select(J, organisations.c.ref.label("organisation_ref")).join(
            organisations, organisations.c.id == J.c.organisation_id
        )

    # -- submission and reading --------------------------------------------------------------------------

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
                kind=job.kind,
                **{c: 0 for c in _COUNT_COLUMNS.values()},
                record_count=0,
                attempts=0,
            )
        )
        return int(_cursor(result).inserted_primary_key[0])  # type: ignore[index]

    def set_record_count(self, job_id: int, count: int) -> None:
        self.session.execute(update(J).where(J.c.id == job_id).values(record_count=count))

    def get(
        self, job_id: int, organisation_id: int | None, kind: str | None = b.KIND_ACHIEVEMENTS
    ) -> b.BatchJob | None:
        if not storable_id(job_id):
            return None
        stmt = self._select_jobs().where(J.c.id == job_id)
        if kind is not None:
            stmt = stmt.where(J.c.kind == kind)
        if organisation_id is not None:
            stmt = stmt.where(J.c.organisation_id == organisation_id)
        row = self.session.execute(stmt).first()
        return _job(row) if row else None

    def list(
        self, organisation_id: int, page: Page, kind: str = b.KIND_ACHIEVEMENTS
    ) -> tuple[int, Sequence[b.BatchJob]]:
        where = and_(J.c.organisation_id == organisation_id, J.c.kind == kind)
        total = self.session.scalar(select(func.count()).select_from(J).where(where)) or 0
        rows = self.session.execute(
            self._select_jobs().where(where).order_by(J.c.id.desc()).offset(page.offset).limit(page.size)
        ).all()
        return total, [_job(r) for r in rows]

    def cancel(self, job_id: int, now: datetime) -> bool:
        cancelled = self.session.execute(
            update(J)
            .where(J.c.id == job_id, J.c.status == b.WAITING)
            .values(status=b.CANCELLED, ended_at=now, lease_expires_at=None)
        )
        return _cursor(cancelled).rowcount == 1

    def leased_jobs(self, now: datetime) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(J)
                .where(J.c.status == b.IN_PROGRESS, J.c.lease_expires_at >= now)
            )
            or 0
        )

    # -- queue limit and periodic tasks ------------------------------------------------------------------

    def queued_records(self, organisation_id: int) -> int:
        # FOR NO KEY UPDATE on the organisation (PostgreSQL): two submissions of one organisation count the
        # queue one after the other, while inserts that only reference the organisation are not blocked.
        self.session.execute(
            select(organisations.c.id)
            .where(organisations.c.id == organisation_id)
            .with_for_update(key_share=True)
        )
        waiting = self.session.scalar(
            select(func.coalesce(func.sum(J.c.record_count - J.c.records_done), 0)).where(
                J.c.organisation_id == organisation_id, J.c.status.in_(b.QUEUED)
            )
        )
        return int(waiting or 0)

    def claim_run(self, name: str, now: datetime, last_before: datetime) -> bool:
        claimed = self.session.execute(
            update(maintenance_runs)
            .where(
                maintenance_runs.c.name == name,
                or_(maintenance_runs.c.last_run_at.is_(None), maintenance_runs.c.last_run_at <= last_before),
            )
            .values(last_run_at=now)
        )
        return _cursor(claimed).rowcount == 1

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
        # Fair between organisations: first the organisation whose queued jobs were worked on longest ago
        # (never: first of all), then its oldest job. A worker gives its job back between chunks while
        # another organisation's job waits (waiting_elsewhere), so their chunks take turns.
        other = J.alias("other")
        last_served = (
            select(func.max(other.c.heartbeat_at))
            .where(other.c.organisation_id == J.c.organisation_id, other.c.status.in_(b.QUEUED))
            .scalar_subquery()
        )
        candidate = self.session.execute(
            select(J.c.id)
            .where(self._claimable(now))
            .order_by(last_served.asc().nulls_first(), J.c.id)
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
        if _cursor(taken).rowcount != 1:
            return None
        return self.get(candidate, None, kind=None)

    def waiting_elsewhere(self, organisation_id: int, now: datetime) -> bool:
        return (
            self.session.execute(
                select(J.c.id).where(self._claimable(now), J.c.organisation_id != organisation_id).limit(1)
            ).first()
            is not None
        )

    def renew_lease(self, job_id: int, worker_id: str, now: datetime, lease_until: datetime) -> int | None:
        done = self.session.execute(
            update(J)
            .where(J.c.id == job_id, J.c.worker_id == worker_id, J.c.status == b.IN_PROGRESS)
            .values(lease_expires_at=lease_until, heartbeat_at=now)
            .returning(J.c.records_done)
        ).scalar()
        return None if done is None else int(done)

    def release(self, job_id: int, worker_id: str, now: datetime) -> None:
        self.session.execute(
            update(J)
            .where(J.c.id == job_id, J.c.worker_id == worker_id, J.c.status == b.IN_PROGRESS)
            .values(status=b.WAITING, lease_expires_at=None, heartbeat_at=now)
        )

    def give_back(self, worker_id: str, now: datetime, count_takeover: bool) -> int | None:
        """Make the job `worker_id` holds Waiting again (its worker is gone); the job's id, or None."""
        given = self.session.execute(
            update(J)
            .where(J.c.worker_id == worker_id, J.c.status == b.IN_PROGRESS)
            .values(
                status=b.WAITING,
                lease_expires_at=None,
                heartbeat_at=now,
                attempts=J.c.attempts + (1 if count_takeover else 0),
            )
            .returning(J.c.id)
        ).scalar()
        return None if given is None else int(given)

    # -- a job's counts and end --------------------------------------------------------------------------

    def add_counts(self, job_id: int, delta: b.BatchCounts) -> None:
        changes = {
            c: getattr(J.c, c) + getattr(delta, k) for k, c in _COUNT_COLUMNS.items() if getattr(delta, k)
        }
        if changes:
            self.session.execute(update(J).where(J.c.id == job_id).values(**changes))

    def finish(
        self,
        job_id: int,
        worker_id: str | None,
        status: str,
        reason: str | None,
        counts: b.BatchCounts,
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
        return _cursor(done).rowcount == 1
