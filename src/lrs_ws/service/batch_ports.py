"""The batch job store the batch use cases and the worker depend on: the job queue (db/batch_queue.py
implements it) and the jobs' records in and out (db/batch_chunks.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from lrs_ws.domain import model
from lrs_ws.domain.batch import (
    KIND_ACHIEVEMENTS,
    BatchCounts,
    BatchJob,
    ChunkContext,
    ChunkKeys,
    FailedRecord,
    NewJob,
    PayloadChunk,
    RecordOutcome,
    VerifyResult,
)
from lrs_ws.domain.records import Purged
from lrs_ws.domain.values import Page


class BatchQueueRepository(Protocol):
    """The job queue: jobs submitted, listed and cancelled, the worker's claim on a job and its lease."""

    def add_job(self, job: NewJob) -> int: ...
    def set_record_count(self, job_id: int, count: int) -> None: ...
    def get(
        self, job_id: int, organisation_id: int | None, kind: str | None = KIND_ACHIEVEMENTS
    ) -> BatchJob | None:
        """A job of that kind (None: any); organisation_id None only for operators (the CLI)."""

    def list(
        self, organisation_id: int, page: Page, kind: str = KIND_ACHIEVEMENTS
    ) -> tuple[int, Sequence[BatchJob]]: ...
    def leased_jobs(self, now: datetime) -> int:
        """Jobs a live worker holds now (InProgress, lease not run out)."""

    def cancel(self, job_id: int, now: datetime) -> bool:
        """Waiting -> Cancelled; False when the job is not Waiting."""

    def queued_records(self, organisation_id: int) -> int:
        """Records of the organisation's Waiting and InProgress jobs not processed yet; the organisation's
        submissions are counted one at a time until commit."""

    def claim_run(self, name: str, now: datetime, last_before: datetime) -> bool:
        """Record `now` as the periodic task's last run if it last ran at or before `last_before`: True
        for the one caller that should run it."""

    # -- the worker --------------------------------------------------------------------------------------
    def claim(self, worker_id: str, now: datetime, lease_until: datetime) -> BatchJob | None:
        """Take one Waiting job, or an InProgress one whose lease ran out (counted in `attempts`): of the
        organisation whose queued jobs were worked on longest ago, its oldest."""

    def waiting_elsewhere(self, organisation_id: int, now: datetime) -> bool:
        """Whether a job of another organisation could be claimed now."""

    def renew_lease(self, job_id: int, worker_id: str, now: datetime, lease_until: datetime) -> int | None:
        """Extend this worker's lease (and lock the job row until commit) and return the job's cursor (its
        records done: the position of the next record to process); None when the job is not ours."""

    def release(self, job_id: int, worker_id: str, now: datetime) -> None:
        """Give the job back (Waiting) at once, on a graceful stop: the next worker need not wait for the
        lease to run out."""

    def give_back(self, worker_id: str, now: datetime, count_takeover: bool) -> int | None:
        """Make the job held by a worker that is gone Waiting again, adding one take-over to its attempts
        when `count_takeover`; the job's id, or None when the worker held none."""

    def add_counts(self, job_id: int, delta: BatchCounts) -> None: ...
    def finish(
        self,
        job_id: int,
        worker_id: str | None,
        status: str,
        reason: str | None,
        counts: BatchCounts,
        now: datetime,
    ) -> bool: ...


class BatchChunkRepository(Protocol):
    """A job's records: as submitted, read and written chunk by chunk, and the outcomes they leave."""

    def add_payloads(self, job_id: int, chunks: Iterable[PayloadChunk]) -> int:
        """Store a job's records, a chunk per row; returns how many records."""

    def payloads(self, job_id: int, start: int, stop: int) -> Sequence[PayloadChunk]:
        """The stored chunks holding the job's records at positions start..stop-1, in order."""

    def delete_payloads(self, job_id: int) -> None:
        """Delete the job's records as submitted (once it has ended)."""

    def failed_records(self, job_id: int) -> Iterator[FailedRecord]: ...
    def purge_finished(
        self, before: datetime, now: datetime, after_id: int, limit: int, dry_run: bool
    ) -> Purged:
        """Delete the stored records and outcomes of up to `limit` jobs (id above `after_id`) that finished
        at or before `before`, and mark them purged; with `dry_run` only count them."""

    def chunk_context(self, organisation_id: int, keys: ChunkKeys) -> ChunkContext: ...
    def insert_achievements(
        self, achievements: Sequence[model.AchievementData], versions: Sequence[int]
    ) -> None:
        """Insert new achievements in bulk and set their ids."""

    def insert_audit_events(self, events: Sequence[dict[str, Any]]) -> None: ...
    def insert_outcomes(self, job_id: int, outcomes: Sequence[RecordOutcome]) -> None: ...
    def counts_from_records(self, job_id: int) -> BatchCounts: ...
    def insert_verify_results(self, job_id: int, results: Sequence[VerifyResult]) -> None: ...
    def verify_results(self, job_id: int) -> Sequence[VerifyResult]:
        """A verification job's results so far, in line order."""
