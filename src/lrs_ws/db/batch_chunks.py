"""A batch job's records in SQL: the records as submitted (stored in chunks), what the worker reads and
writes for each chunk in bulk, and the outcomes and results the job leaves.

The job itself (its queue, the worker's lease, its counts) is in `lrs_ws.db.batch_queue`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    CursorResult,
    Date,
    String,
    and_,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session, aliased

from lrs_ws.db import achievement_rows, bulk, feed
from lrs_ws.db.tables import achievements, audit_events, learning_aims
from lrs_ws.db.tables import learners as L
from lrs_ws.db.tables_batch import batch_jobs as J
from lrs_ws.db.tables_batch import batch_payloads as P
from lrs_ws.db.tables_batch import batch_records as R
from lrs_ws.db.tables_batch import verify_results as V
from lrs_ws.domain import batch as b
from lrs_ws.domain import model
from lrs_ws.domain.batch import ChunkContext, ChunkKeys, PayloadChunk
from lrs_ws.domain.records import Aim, Purged

# Payload rows (a thousand records each) written per statement: a few, so a large file is never held whole.
PAYLOAD_ROWS_PER_INSERT = 4
# Achievement lookup keys per statement (three parameters each on SQLite, well below its limit).
KEYS_PER_QUERY = 1000
_BY_MIS_IDENTIFIER = ("uln", "reference", "mis_identifier")
_BY_AWARD_DATE = ("uln", "reference", "award_date")
_BY_TARGET = ("uln", "reference")

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


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class BatchChunkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- the records as submitted ------------------------------------------------------------------------

    def add_payloads(self, job_id: int, chunks: Iterable[PayloadChunk]) -> int:
        total = 0
        for batch in _chunks(chunks, PAYLOAD_ROWS_PER_INSERT):
            bulk.insert_rows(self.session, P, PAYLOAD_COLUMNS, [(job_id, *chunk) for chunk in batch])
            total += sum(chunk.record_count for chunk in batch)
        return total

    def payloads(self, job_id: int, start: int, stop: int) -> Sequence[PayloadChunk]:
        rows = self.session.execute(
            select(P.c.first_index, P.c.record_count, P.c.records)
            .where(P.c.job_id == job_id, P.c.first_index < stop, P.c.first_index + P.c.record_count > start)
            .order_by(P.c.first_index)
        ).all()
        return [PayloadChunk(*r) for r in rows]

    def delete_payloads(self, job_id: int) -> None:
        self.session.execute(delete(P).where(P.c.job_id == job_id))

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

    def purge_finished(
        self, before: datetime, now: datetime, after_id: int, limit: int, dry_run: bool
    ) -> Purged:
        ids = list(
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
                cast(CursorResult[Any], self.session.execute(delete(t).where(t.c.job_id.in_(ids)))).rowcount
                for t in (P, R, V)
            )
            self.session.execute(update(J).where(J.c.id.in_(ids)).values(purged_at=now))
        return Purged(ids[-1], len(ids), rows)

    # -- a chunk's reads and writes ----------------------------------------------------------------------

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
        keys: list[tuple[Any, ...]],
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
        for a, new_id, version in zip(new, ids, versions, strict=True):
            a.id = new_id
            a.version = version
        bulk.insert_rows(
            self.session,
            achievements,
            achievement_rows.COLUMNS,
            [achievement_rows.row_values(a) for a in new],
        )

    def _reserve_achievement_ids(self, n: int) -> list[int]:
        """Ids for `n` new achievements, known before the rows are inserted, so they can be inserted with one
        executemany (RETURNING in parameter order is row-at-a-time on SQLite).

        PostgreSQL: taken from the id sequence. SQLite: the job row's UPDATE that opened this transaction
        holds the database's write lock, so no other writer can insert until we commit.
        """
        if bulk.is_postgresql(self.session):
            return list(
                self.session.execute(
                    text(
                        "SELECT nextval(pg_get_serial_sequence('achievements', 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": n},
                ).scalars()
            )
        top = self.session.scalar(select(func.max(achievements.c.id))) or 0
        return list(range(top + 1, top + 1 + n))

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

    # -- learner verification jobs -----------------------------------------------------------------------

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
