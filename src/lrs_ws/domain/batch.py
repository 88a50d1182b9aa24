"""Achievement batch jobs: statuses, per-record outcomes, the counts of AchievementBatchJobResponse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import NamedTuple

from lrs_ws.domain import model
from lrs_ws.domain.records import Aim

WAITING = "Waiting"
IN_PROGRESS = "InProgress"
SUCCESSFUL = "Successful"
FAILED = "Failed"
CANCELLED = "Cancelled"
FINISHED = (SUCCESSFUL, FAILED, CANCELLED)
QUEUED = (WAITING, IN_PROGRESS)

# What a job does: apply achievements, or verify learners against the register.
KIND_ACHIEVEMENTS = "Achievement"
KIND_VERIFY = "Verify"

SOURCE_SOAP = "SOAP"
SOURCE_FILE = "File"

# A processed record's state: written in the same transaction as the change the record made (or its refusal).
APPLIED = "applied"
REFUSED = "failed"

# What an applied record did.
CREATED = "Created"
UPDATED = "Updated"
WITHDRAWN = "Withdrawn"
REINSTATED = "Reinstated"
PROMOTED_TO_FINAL = "PromotedToFinal"

# The three kinds of record-level error, as the response counts them.
FIELD_ERROR, LEARNER_ERROR, BUSINESS_ERROR = "FieldDataError", "LearnerDataError", "BusinessRuleError"


@dataclass
class BatchCounts:
    """The counts of one job, as AchievementBatchJobResponse reports them."""

    records: int = 0
    done: int = 0
    created: int = 0
    updated: int = 0
    withdrawn: int = 0
    reinstated: int = 0
    promoted: int = 0
    field_errors: int = 0
    learner_errors: int = 0
    business_errors: int = 0
    successful_final: int = 0
    successful_provisional: int = 0

    @property
    def successful(self) -> int:
        return self.successful_final + self.successful_provisional

    @property
    def failed(self) -> int:
        return self.field_errors + self.learner_errors + self.business_errors

    @property
    def percentage_successful(self) -> float:
        return round(100.0 * self.successful / self.records, 2) if self.records else 0.0

    def add(self, other: BatchCounts) -> None:
        for f in fields(self):
            if f.name != "records":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def count_applied(self, outcome: str, promoted: bool, final: bool, n: int = 1) -> None:
        """`n` records applied with this outcome: a Create that promoted a Provisional achievement counts
        only as promoted; an Update that promoted one counts as updated and promoted."""
        self.done += n
        if outcome == CREATED:
            self.created += n
        elif outcome == UPDATED:
            self.updated += n
        elif outcome == WITHDRAWN:
            self.withdrawn += n
        elif outcome == REINSTATED:
            self.reinstated += n
        if promoted:
            self.promoted += n
        if final:
            self.successful_final += n
        else:
            self.successful_provisional += n

    def count_refused(self, category: str, n: int = 1) -> None:
        self.done += n
        if category == FIELD_ERROR:
            self.field_errors += n
        elif category == LEARNER_ERROR:
            self.learner_errors += n
        else:
            self.business_errors += n


def final_status(counts: BatchCounts) -> tuple[str, str | None]:
    """(status, rejection reason) of a job whose every record has been processed.

    A job is Successful when at least one of its records was applied, whatever happened to the others (each
    failed record is counted and listed in the error file). It is Failed when not one record could be applied.
    """
    if counts.records and counts.successful == 0:
        return FAILED, f"None of the {counts.records} records could be applied; see the error file."
    return SUCCESSFUL, None


def format_duration(started: datetime | None, ended: datetime | None) -> str | None:
    """Like .NET's TimeSpan, hh:mm:ss (whole seconds, as the timestamps are kept; days add to the hours)."""
    if started is None or ended is None:
        return None
    seconds = max(0, int((ended - started).total_seconds()))
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    return f"{hours:02d}:{m:02d}:{s:02d}"


@dataclass(frozen=True)
class BatchJob:
    """What is known about one job (a read model: the worker changes jobs through the repository)."""

    id: int
    organisation_id: int
    organisation_ref: str
    user_id: int
    username: str
    email: str
    submission_type: str
    source: str
    filename: str | None
    status: str
    submitted_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    counts: BatchCounts
    rejection_reason: str | None
    attempts: int = 0
    kind: str = KIND_ACHIEVEMENTS

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration(self) -> str | None:
        return format_duration(self.started_at, self.ended_at)


class RecordOutcome(NamedTuple):
    """The outcome of one record, as stored on its row (a failed one keeps its payload for the error file)."""

    line_no: int
    state: str
    outcome: str | None = None
    promoted: bool = False
    achievement_status: str | None = None
    achievement_id: int | None = None
    error_code: str | None = None
    error_category: str | None = None
    error_message: str | None = None
    payload: str | None = None
    rule_id: str | None = None
    field: str | None = None


@dataclass(frozen=True)
class FailedRecord:
    """One row of the error file."""

    line_no: int
    payload: str
    error_code: str
    error_message: str
    rule_id: str = ""
    field: str = ""


@dataclass(frozen=True)
class VerifyResult:
    """One learner of a verification batch: its answer (response code, failure flags, master ULN of a linked
    match), or the field error that kept it from being verified."""

    line_no: int
    uln: str
    response_code: str | None = None
    failure_flags: tuple[str, ...] = ()
    master_uln: str | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class NewJob:
    organisation_id: int
    user_id: int
    username: str
    email: str
    submission_type: str
    source: str
    filename: str | None
    submitted_at: datetime
    kind: str = KIND_ACHIEVEMENTS


class PayloadChunk(NamedTuple):
    """Stored records of a job: `record_count` records from position `first_index` (from 0), as JSON text."""

    first_index: int
    record_count: int
    records: str


@dataclass(frozen=True)
class ChunkKeys:
    """What a chunk's records look up: their learners and aims, and the organisation's live achievements
    each record can match: by ULN, reference and MisIdentifier (a record with a MisIdentifier), by ULN,
    reference and award date (a Create without one), or every one of a ULN and reference (an Update,
    Withdraw or Reinstate without one). Only these are read, so a chunk costs the same however many other
    achievements its learners hold."""

    ulns: set[str]
    references: set[str]
    by_mis_identifier: set[tuple[str, str, str]]
    by_award_date: set[tuple[str, str, date]]
    by_target: set[tuple[str, str]]


@dataclass(frozen=True)
class ChunkContext:
    """What a chunk's records can refer to, read in a few queries."""

    learners: dict[str, model.LearnerData]
    aims: dict[str, Aim]
    achievements: Sequence[model.Achievement]
