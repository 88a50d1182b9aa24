"""Batch jobs and records in SQL: bulk reads and writes per chunk, and the worker's claim on a job.

Claims are safe with any number of workers: on PostgreSQL the candidate row is locked with
`FOR UPDATE SKIP LOCKED`; on every backend the claiming UPDATE re-checks the job is still claimable, so
two workers can never both take it (SQLite serialises writers anyway).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    CursorResult,
    Date,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session, aliased

from lrs_ws.db import bulk, feed
from lrs_ws.db.tables import achievements, audit_events, learning_aims, organisations
from lrs_ws.db.tables import learners as L
from lrs_ws.db.tables_batch import batch_jobs as J
from lrs_ws.db.tables_batch import batch_payloads as P
from lrs_ws.db.tables_batch import batch_records as R
from lrs_ws.db.tables_batch import maintenance_runs
from lrs_ws.db.tables_batch import verify_results as V
from lrs_ws.domain import batch as b
from lrs_ws.domain import model
from lrs_ws.domain.batch import ChunkContext, ChunkKeys, NewJob, PayloadChunk
from lrs_ws.domain.records import Aim, Purged
from lrs_ws.domain.values import Page

# Payload rows (a thousand records each) written per statement: a few, so a large file is never held whole.
PAYLOAD_ROWS_PER_INSERT = 4
# Achievement lookup keys per statement (three parameters each on SQLite, well below its limit).
KEYS_PER_QUERY = 1000
_BY_MIS_IDENTIFIER = ("uln", "reference", "mis_identifier")
_BY_AWARD_DATE = ("uln", "reference", "award_date")
_BY_TARGET = ("uln", "reference")

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

ACHIEVEMENT_COLUMNS = (
    "id",
    "organisation_id",
    "uln",
    "reference",
    "title",
    "aim_type",
    "level",
    "grade",
    "award_date",
    "language",
    "provider_ukprn",
    "mis_identifier",
    "status",
    "withdrawn",
    "withdrawn_reason",
    "deleted",
    "under_challenge",
    "created_at",
    "updated_at",
    "version",
)
AUDIT_COLUMNS = (
    "at",
    "user_id",
    "username",
    "organisation_id",
    "operation",
    "achievement_id",
    "edc_id",
    "before",
    "after",
    "request_id",
)
PAYLOAD_COLUMNS = ("job_id", "first_index", "record_count", "records")
VERIFY_COLUMNS = (
    "job_id",
    "line_no",
    "uln",
    "response_code",
    "failure_flags",
    "master_uln",
    "error_code",
    "error_message",
)
OUTCOME_COLUMNS = (
    "job_id",
    "line_no",
    "state",
    "outcome",
    "promoted",
    "achievement_status",
    "achievement_id",
    "error_code",
    "error_category",
    "error_message",
    "payload",
    "rule_id",
    "field",
)


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


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class BatchRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _select_jobs(self) -> Select[Any]:
        return select(J, organisations.c.ref.label("organisation_ref")).join(
            organisations, organisations.c.id == J.c.organisation_id
        )

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
                kind=job.kind,
                **{c: 0 for c in _COUNT_COLUMNS.values()},
                record_count=0,
                attempts=0,
            )
        )
        return int(_cursor(result).inserted_primary_key[0])  # type: ignore[index]

    def add_payloads(self, job_id: int, chunks: Iterable[PayloadChunk]) -> int:
        total = 0
        for batch in _chunks(chunks, PAYLOAD_ROWS_PER_INSERT):
            bulk.insert_rows(self.session, P, PAYLOAD_COLUMNS, [(job_id, *chunk) for chunk in batch])
            total += sum(chunk.record_count for chunk in batch)
        return total

    def set_record_count(self, job_id: int, count: int) -> None:
        self.session.execute(update(J).where(J.c.id == job_id).values(record_count=count))

    def get(
        self, job_id: int, organisation_id: int | None, kind: str | None = b.KIND_ACHIEVEMENTS
    ) -> b.BatchJob | None:
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

    def failed_records(self, job_id: int) -> Iterator[b.FailedRecord]:
        stmt = (
            select(R.c.line_no, R.c.payload, R.c.error_code, R.c.error_message, R.c.rule_id, R.c.field)
            .where(R.c.job_id == job_id, R.c.state == b.REFUSED)
            .order_by(R.c.line_no)
            .execution_options(yield_per=2000)
        )
        for row in self.session.execute(stmt):
            yield b.FailedRecord(
                row.line_no,
                row.payload,
                row.error_code or "",
                row.error_message or "",
                row.rule_id or "",
                row.field or "",
            )

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

    # -- queue limit and retention ---------------------------------------------------------------------

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

    def purge_finished(
        self, before: datetime, now: datetime, after_id: int, limit: int, dry_run: bool
    ) -> Purged:
        ids = builtins.list(
            self.session.scalars(
                select(J.c.id)
                .where(
                    J.c.id > after_id,
                    J.c.status.in_(b.FINISHED),
                    J.c.ended_at <= before,
                    J.c.purged_at.is_(None),
                )
                .order_by(J.c.id)
                .limit(limit)
            )
        )
        if not ids:
            return Purged(None, 0, 0)
        if dry_run:
            rows = sum(
                self.session.scalar(select(func.count()).select_from(t).where(t.c.job_id.in_(ids))) or 0
                for t in (P, R, V)
            )
        else:
            rows = sum(
                _cursor(self.session.execute(delete(t).where(t.c.job_id.in_(ids)))).rowcount
                for t in (P, R, V)
            )
            self.session.execute(update(J).where(J.c.id.in_(ids)).values(purged_at=now))
        return Purged(ids[-1], len(ids), rows)

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

    def payloads(self, job_id: int, start: int, stop: int) -> Sequence[PayloadChunk]:
        rows = self.session.execute(
            select(P.c.first_index, P.c.record_count, P.c.records)
            .where(P.c.job_id == job_id, P.c.first_index < stop, P.c.first_index + P.c.record_count > start)
            .order_by(P.c.first_index)
        ).all()
        return [PayloadChunk(*r) for r in rows]

    def delete_payloads(self, job_id: int) -> None:
        self.session.execute(delete(P).where(P.c.job_id == job_id))

    def chunk_context(self, organisation_id: int, keys: ChunkKeys) -> ChunkContext:
        postgresql = bulk.is_postgresql(self.session)
        if postgresql:
            # psycopg prepares a statement run five times; PostgreSQL may then keep one generic plan for it,
            # chosen while the table was small (a sequential scan), for the rest of a large batch.
            self.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

        def one_of(column: Any, values: set[str]) -> Any:
            # PostgreSQL: one array parameter (= ANY) rather than a thousand-parameter IN list, which is
            # compiled, converted and planned anew for every chunk.
            if postgresql:
                return column == any_(bindparam(None, sorted(values), type_=ARRAY(String)))
            return column.in_(sorted(values))

        learners: dict[str, model.LearnerData] = {}
        if keys.ulns:
            for row in self.session.execute(
                select(L.c.uln, L.c.given_name, L.c.family_name).where(one_of(L.c.uln, keys.ulns))
            ):
                learners[row.uln] = model.LearnerData(
                    uln=row.uln, given_name=row.given_name, family_name=row.family_name
                )
        aims: dict[str, Aim] = {}
        if keys.references:
            for row in self.session.execute(
                select(learning_aims).where(one_of(learning_aims.c.reference, keys.references))
            ):
                aims[row.reference] = Aim(row.reference, row.title, row.aim_type, row.level)
        found: dict[int, model.Achievement] = {}
        for columns, types, wanted in (
            (_BY_MIS_IDENTIFIER, (String, String, String), keys.by_mis_identifier),
            (_BY_AWARD_DATE, (String, String, Date), keys.by_award_date),
            (_BY_TARGET, (String, String), keys.by_target),
        ):
            for batch in _chunks(sorted(wanted), KEYS_PER_QUERY):
                for achievement in self.session.scalars(
                    self._live_achievements(organisation_id, columns, types, batch, postgresql)
                ):
                    found.setdefault(achievement.id, achievement)
        return ChunkContext(learners, aims, [found[i] for i in sorted(found)])

    @staticmethod
    def _live_achievements(
        organisation_id: int,
        columns: tuple[str, ...],
        types: tuple[Any, ...],
        keys: builtins.list[tuple[Any, ...]],
        postgresql: bool,
    ) -> Any:
        """The organisation's live achievements whose `columns` equal one of `keys`: one index probe a key
        (the achievements indexes lead with the organisation, ULN and reference)."""
        T = achievements.c
        live = (T.organisation_id == organisation_id, T.deleted.is_(False))
        if postgresql:
            # The keys as arrays joined column by column (unnest): one parameter each, whatever their number.
            # Each key gets its own indexed lookup (LATERAL, kept from being merged into the join by OFFSET
            # 0): PostgreSQL would otherwise hash all of a learner's achievements when it holds thousands.
            wanted: Any = (
                func.unnest(
                    *[bindparam(None, [k[i] for k in keys], type_=ARRAY(t)) for i, t in enumerate(types)]
                )
                .table_valued(*columns)
                .render_derived(name="wanted")
            )
            per_key = (
                select(achievements)
                .where(*live, *[T[c] == wanted.c[c] for c in columns])
                .offset(0)
                .lateral("found")
            )
            return select(aliased(model.Achievement, per_key)).select_from(wanted).join(per_key, true())
        # The keys as one JSON array (json_each), materialised first so that the join walks it and probes
        # the index for each: one parameter and one statement compiled once (a VALUES list is compiled anew
        # for every chunk, and a row-value IN list is planned as a scan of the organisation's achievements).
        rows = func.json_each(bindparam(None, json.dumps(keys, default=str))).table_valued("value")
        wanted = (
            select(*[func.json_extract(rows.c.value, f"$[{i}]").label(c) for i, c in enumerate(columns)])
            .cte("wanted")
            .prefix_with("MATERIALIZED")
        )
        return (
            select(model.Achievement)
            .select_from(wanted)
            .join(achievements, and_(*[T[c] == wanted.c[c] for c in columns]))
            .where(*live)
        )

    def insert_achievements(self, new: Sequence[model.AchievementData], versions: Sequence[int]) -> None:
        if not new:
            return
        ids = self._reserve_achievement_ids(len(new))
        bulk.insert_rows(
            self.session,
            achievements,
            ACHIEVEMENT_COLUMNS,
            [
                (
                    new_id,
                    a.organisation_id,
                    a.uln,
                    a.reference,
                    a.title,
                    a.aim_type,
                    a.level,
                    a.grade,
                    a.award_date,
                    a.language,
                    a.provider_ukprn,
                    a.mis_identifier,
                    a.status,
                    a.withdrawn,
                    a.withdrawn_reason,
                    a.deleted,
                    a.under_challenge,
                    a.created_at,
                    a.updated_at,
                    version,
                )
                for a, new_id, version in zip(new, ids, versions, strict=True)
            ],
        )
        for a, new_id, version in zip(new, ids, versions, strict=True):
            a.id = new_id
            a.version = version

    def _reserve_achievement_ids(self, n: int) -> builtins.list[int]:
        """Ids for `n` new achievements, known before the rows are inserted, so they can be inserted with one
        executemany (RETURNING in parameter order is row-at-a-time on SQLite).

        PostgreSQL: taken from the id sequence. SQLite: the job row's UPDATE that opened this transaction
        holds the database's write lock, so no other writer can insert until we commit.
        """
        if bulk.is_postgresql(self.session):
            return builtins.list(
                self.session.execute(
                    text(
                        "SELECT nextval(pg_get_serial_sequence('achievements', 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": n},
                ).scalars()
            )
        top = self.session.scalar(select(func.max(achievements.c.id))) or 0
        return builtins.list(range(top + 1, top + 1 + n))

    def insert_audit_events(self, events: Sequence[dict[str, Any]]) -> None:
        bulk.insert_rows(
            self.session, audit_events, AUDIT_COLUMNS, [tuple(e[n] for n in AUDIT_COLUMNS) for e in events]
        )
        for e in events:
            feed.note(
                self.session,
                at=e["at"],
                operation=e["operation"],
                achievement_id=e["achievement_id"],
                edc_id=e["edc_id"],
                before=e["before"],
            )

    def insert_outcomes(self, job_id: int, outcomes: Sequence[b.RecordOutcome]) -> None:
        bulk.insert_rows(
            self.session,
            R,
            OUTCOME_COLUMNS,
            [
                (
                    job_id,
                    o.line_no,
                    o.state,
                    o.outcome,
                    o.promoted,
                    o.achievement_status,
                    o.achievement_id,
                    o.error_code,
                    o.error_category,
                    (o.error_message or "")[:500] or None,
                    o.payload,
                    o.rule_id,
                    o.field,
                )
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
                R.c.state,
                R.c.outcome,
                R.c.promoted,
                R.c.achievement_status,
                R.c.error_category,
                func.count().label("n"),
            )
            .where(R.c.job_id == job_id)
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

    # -- learner verification jobs ----------------------------------------------------------------------

    def insert_verify_results(self, job_id: int, results: Sequence[b.VerifyResult]) -> None:
        bulk.insert_rows(
            self.session,
            V,
            VERIFY_COLUMNS,
            [
                (
                    job_id,
                    r.line_no,
                    r.uln[:20],
                    r.response_code,
                    " ".join(r.failure_flags) or None,
                    r.master_uln,
                    r.error_code,
                    (r.error_message or "")[:500] or None,
                )
                for r in results
            ],
        )

    def verify_results(self, job_id: int) -> Sequence[b.VerifyResult]:
        rows = self.session.execute(select(V).where(V.c.job_id == job_id).order_by(V.c.line_no)).all()
        return [
            b.VerifyResult(
                r.line_no,
                r.uln,
                r.response_code,
                tuple((r.failure_flags or "").split()),
                r.master_uln,
                r.error_code,
                r.error_message,
            )
            for r in rows
        ]
