"""The batch job store the batch use cases and the worker depend on (db/batch_repository.py implements it)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from lrs_ws.domain import model
from lrs_ws.domain.batch import BatchCounts, BatchJob, FailedRecord, RecordOutcome
from lrs_ws.domain.values import Page
from lrs_ws.service.uow import Aim


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


class PendingRecord(NamedTuple):
    id: int
    line_no: int
    payload: str


@dataclass(frozen=True)
class ChunkContext:
    """What a chunk's records can refer to, read in a few queries."""

    learners: dict[str, model.LearnerData]
    aims: dict[str, Aim]
    achievements: Sequence[model.Achievement]


class BatchRepository(Protocol):
    # -- submission and reading ------------------------------------------------------------------------
    def add_job(self, job: NewJob) -> int: ...
    def add_records(self, job_id: int, records: Iterable[tuple[int, str]]) -> int:
        """Store (line number, payload) rows as pending; returns how many."""
    def set_record_count(self, job_id: int, count: int) -> None: ...
    def get(self, job_id: int, organisation_id: int | None) -> BatchJob | None:
        """A job; organisation_id None only for operators (the CLI)."""
    def list(self, organisation_id: int, page: Page) -> tuple[int, Sequence[BatchJob]]: ...
    def failed_records(self, job_id: int) -> Iterator[FailedRecord]: ...
    def count_jobs(self) -> int: ...
    def cancel(self, job_id: int, now: datetime) -> bool:
        """Waiting -> Cancelled; False when the job is not Waiting."""

    # -- the worker --------------------------------------------------------------------------------------
    def claim(self, worker_id: str, now: datetime, lease_until: datetime) -> BatchJob | None:
        """Take one Waiting job, or an InProgress one whose lease ran out (counted in `attempts`)."""
    def renew_lease(self, job_id: int, worker_id: str, now: datetime, lease_until: datetime) -> bool:
        """Extend this worker's lease (and lock the job row until commit); False when it is not ours."""
    def release(self, job_id: int, worker_id: str, now: datetime) -> None:
        """Give the job back (Waiting) at once, on a graceful stop: the next worker need not wait for the
        lease to run out."""
    def pending_records(self, job_id: int, limit: int) -> Sequence[PendingRecord]: ...
    def chunk_context(
        self, organisation_id: int, ulns: set[str], targets: set[tuple[str, str]], references: set[str]
    ) -> ChunkContext: ...
    def insert_achievements(
        self, achievements: Sequence[model.AchievementData], versions: Sequence[int]
    ) -> None:
        """Insert new achievements in bulk and set their ids."""
    def insert_audit_events(self, events: Sequence[dict[str, Any]]) -> None: ...
    def save_outcomes(self, outcomes: Sequence[RecordOutcome]) -> None: ...
    def add_counts(self, job_id: int, delta: BatchCounts) -> None: ...
    def counts_from_records(self, job_id: int) -> BatchCounts: ...
    def finish(
        self, job_id: int, worker_id: str | None, status: str, reason: str | None, counts: BatchCounts,
        now: datetime,
    ) -> bool: ...
