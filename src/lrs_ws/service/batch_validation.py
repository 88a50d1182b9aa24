"""Dry-run validation of an achievement batch: what SubmitAchievementBatchJob and its job would do, now,
without doing it.

The same request checks as the submit (service/batch.py) and the same per-record processing as the worker
(service/batch_processing.py: parse, read the records' context, decide each in order), in a unit of work that
is never committed. Achievements read from the database are decided as detached copies, so a record that
changes an achievement changes only the copy, and later records of the batch (an update of an achievement
created earlier in it) see that change, as they would in the job. Nothing is written: no job, no
achievement, no audit event, no e-mail.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from lrs_ws.domain import batch as b
from lrs_ws.domain import errors as e
from lrs_ws.domain import model
from lrs_ws.domain.batch import ChunkContext
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service import batch_processing as bp
from lrs_ws.service.auth import Caller
from lrs_ws.service.batch import (
    OP_BATCH,
    check_queue,
    check_request,
    check_size,
    file_submitter,
)
from lrs_ws.service.batch_codec import error_file, record_values, row_values
from lrs_ws.service.record_rules import offending_value
from lrs_ws.service.records import AchievementRecord


@dataclass(frozen=True)
class RecordFailure:
    """One failing record, as the error file gives it."""

    line: int
    mis_identifier: str
    uln: str
    reference: str
    error_code: str
    error_message: str
    rule_id: str
    field: str
    value: str


@dataclass
class Validation:
    """What the job would have done: its counts and its failing records, in order."""

    submission_type: str
    counts: b.BatchCounts = field(default_factory=b.BatchCounts)
    failures: list[b.FailedRecord] = field(default_factory=list)

    @property
    def error_file(self) -> str | None:
        return error_file(self.failures)

    def records(self) -> Iterator[RecordFailure]:
        for f in self.failures:
            data = json.loads(f.payload)
            yield RecordFailure(
                f.line_no,
                data.get("MisIdentifier") or "",
                data.get("Uln") or "",
                data.get("UnitOrQualificationReferenceNumber") or "",
                f.error_code,
                f.error_message,
                f.rule_id,
                f.field,
                offending_value(f.field, data),
            )


def _detached(a: model.AchievementData) -> model.AchievementData:
    """A plain copy of a stored achievement: deciding a record changes the copy, never the mapped row."""
    copy = model.AchievementData(
        organisation_id=a.organisation_id,
        uln=a.uln,
        reference=a.reference,
        title=a.title,
        aim_type=a.aim_type,
        level=a.level,
        grade=a.grade,
        award_date=a.award_date,
        language=a.language,
        provider_ukprn=a.provider_ukprn,
        mis_identifier=a.mis_identifier,
        status=a.status,
        created_at=a.created_at,
    )
    for name in (
        "id",
        "withdrawn",
        "withdrawn_reason",
        "deleted",
        "under_challenge",
        "updated_at",
        "version",
    ):
        setattr(copy, name, getattr(a, name))
    return copy


class ValidationView(bp.ChunkView):
    """The worker's chunk view, kept across the whole batch: each chunk adds what it reads, as detached
    copies, and achievements already known keep the changes earlier records made to them."""

    def __init__(self) -> None:
        super().__init__(ChunkContext({}, {}, ()))
        self._known: set[int] = set()

    def extend(self, context: ChunkContext) -> None:
        self._learners.update(context.learners)
        self._aims.update(context.aims)
        for achievement in context.achievements:
            if achievement.id is not None and achievement.id not in self._known:
                self._known.add(achievement.id)
                self._targets[(achievement.uln, achievement.reference)].append(_detached(achievement))


def _run(
    uow: AbstractUnitOfWork,
    caller: Caller,
    status: str,
    items: Iterable[tuple[int, Sequence[Any]]],
    chunk_size: int,
) -> Validation:
    """Decide every (line, values) record in order, a chunk at a time, inside `uow` (not committed)."""
    now = utcnow()
    result = Validation(status)
    view = ValidationView()
    it = iter(items)
    while rows := [[line, *values] for line, values in islice(it, chunk_size)]:
        parsed = bp.parse_records(rows, now.date())
        view.extend(uow.batch_chunks.chunk_context(caller.organisation_id, bp.context_keys(parsed)))
        decided = bp.decide_records(view, caller, parsed, status, now, write_existing=lambda: None)
        result.counts.records += len(rows)
        result.counts.add(decided.delta)
        result.failures.extend(
            b.FailedRecord(
                o.line_no,
                o.payload or "{}",
                o.error_code or "",
                o.error_message or "",
                o.rule_id or "",
                o.field or "",
            )
            for o in decided.refused
        )
    return result


def validate(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    submission_type: str | None,
    achievements: Sequence[AchievementRecord] | None,
    max_achievements: int,
    max_queued_records: int,
    chunk_size: int,
    email: str | None = None,
) -> Validation:
    """ValidateAchievementBatch: the request-level refusals of SubmitAchievementBatchJob as it gives them,
    else the counts and failing records its job would have now. Changes nothing."""
    caller.require(model.ROLE_AO_USER, OP_BATCH)
    items = list(achievements or [])
    with uow:
        _, status = check_request(uow, caller.organisation_id, email, submission_type, email_optional=True)
        check_size(len(items), max_achievements)
        check_queue(uow, caller.organisation_id, len(items), max_queued_records)
        return _run(uow, caller, status, ((i, record_values(r)) for i, r in enumerate(items, 1)), chunk_size)


def validate_file(
    uow: AbstractUnitOfWork,
    *,
    organisation_ref: str,
    username: str | None,
    submission_type: str | None,
    rows: Iterable[tuple[int, Mapping[str, str | None]]],
    max_queued_records: int,
    chunk_size: int,
) -> Validation:
    """`lrs-ws batch validate`: a batch file checked as `batch submit` would submit it, for the organisation
    (and, when given, as its user: the same role check). Changes nothing."""
    with uow:
        organisation, user = file_submitter(uow, organisation_ref, username)
        assert organisation.id is not None
        if user is not None:
            caller = Caller.of(user, organisation, "")
        else:
            caller = Caller(0, "", organisation.id, organisation.ref, frozenset({model.ROLE_AO_USER}))
        _, status = check_request(uow, organisation.id, None, submission_type, email_optional=True)
        result = _run(uow, caller, status, ((line, row_values(row)) for line, row in rows), chunk_size)
        if result.counts.records == 0:
            raise e.NoAchievements("The file holds no achievements.")
        check_queue(uow, organisation.id, result.counts.records, max_queued_records)
        return result
