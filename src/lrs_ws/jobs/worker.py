"""The batch worker: claims jobs and processes them chunk by chunk; between chunks it delivers the e-mail
outbox when that module is installed.

Any number of workers may share one database (`lrs-ws worker` processes on any machine, one of them started
by `lrs-ws serve`): a job is processed by the worker holding its lease, which is renewed with every chunk. A
worker that dies loses its lease after `stale_job_seconds` (or at once, when its supervisor gives the job
back), and the next worker takes the job up where the last committed chunk left it.

While the database cannot be reached the worker keeps its job and tries the same chunk again with a bounded
back-off: the chunk rolled back whole, so nothing is applied twice, and the job goes on within seconds of the
database's return. During planned maintenance the worker finishes its chunk, gives the job back and claims
nothing until maintenance ends.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lrs_ws.domain import batch as b
from lrs_ws.domain.errors import ServiceUnavailable, StaleVersion
from lrs_ws.jobs import mailer
from lrs_ws.observability.logs import database_cause
from lrs_ws.service import batch_processing as bp
from lrs_ws.service import retention
from lrs_ws.service import verify_batch as vb
from lrs_ws.service.maintenance import MaintenanceStatus

log = logging.getLogger("lrs_ws.worker")

# A job whose worker died this many times while processing it is ended as Failed (a job that kills its
# worker every time must not stop the queue).
MAX_TAKEOVERS = 5
# After a chunk fails for an unexpected reason, its records are retried one per transaction, and a record
# that fails this many times in a row is marked failed (WSEC0199) so the rest of the job goes on.
RECORD_ATTEMPTS = 2
MAX_STALE_RETRIES = 20
# How often a worker asks the database whether the daily retention purge is due.
PURGE_CHECK_SECONDS = 3600.0
# Waits between attempts while the database is unreachable: 0.5 s, doubling, never more than this.
MAX_OUTAGE_WAIT = 5.0
# How each kind of job is processed: process_chunk, refuse_next_record and fail_job of the same shape.
PROCESSORS: dict[str, Any] = {b.KIND_ACHIEVEMENTS: bp, b.KIND_VERIFY: vb}


def make_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]


@dataclass
class WorkerStats:
    jobs: int = 0
    records: int = 0


class BatchWorker:
    """One worker loop. `stop` ends it between chunks (the current chunk is always finished first)."""

    def __init__(
        self,
        wiring: Any,
        stop: threading.Event,
        *,
        worker_id: str | None = None,
        on_chunk: Callable[[b.BatchJob, bp.ChunkResult], None] | None = None,
    ) -> None:
        self.settings = wiring.settings
        self.uow_factory = wiring.uow_factory
        self.stop = stop
        self.worker_id = worker_id or make_worker_id()
        self.on_chunk = on_chunk
        self.stats = WorkerStats()
        self._last_mail = float("-inf")
        self._last_purge_check = float("-inf")
        self.maintenance = MaintenanceStatus(wiring.uow_factory)
        self._outage_waits = 0  # attempts since the database stopped answering (0: it answers)
        self._in_maintenance = False

    @property
    def lease_seconds(self) -> int:
        return max(1, int(self.settings.stale_job_seconds))

    def run(self, *, once: bool = False) -> WorkerStats:
        """Process jobs until stopped; with `once`, until no job is waiting."""
        log.info("batch worker started", extra={"detail": self.worker_id})
        while not self.stop.is_set():
            self.tick()
            if self.under_maintenance():
                if once:
                    break
                self.stop.wait(self.settings.worker_poll_seconds)
                continue
            try:
                job = bp.claim_next(
                    self.uow_factory(), worker_id=self.worker_id, lease_seconds=self.lease_seconds
                )
                self._database_back()
            except ServiceUnavailable as exc:
                if once:
                    break
                self._wait_for_database(exc, {})
                continue
            except Exception:
                log.error("could not claim a batch job", exc_info=True)
                job = None
                if once:
                    break
                self.stop.wait(self.settings.worker_poll_seconds)
                continue
            if job is None:
                if once:
                    break
                self.stop.wait(self.settings.worker_poll_seconds)
                continue
            try:
                self.run_job(job)
            except Exception:
                # The database is probably unreachable: give the job back if we can, and wait.
                log.error("batch job interrupted", exc_info=True, extra={"job_id": job.id})
                try:
                    bp.release(self.uow_factory(), job_id=job.id, worker_id=self.worker_id)
                except Exception:
                    log.error("could not release the batch job", exc_info=True, extra={"job_id": job.id})
                self.stop.wait(self.settings.worker_poll_seconds)
        log.info("batch worker stopped", extra={"detail": self.worker_id})
        return self.stats

    def tick(self) -> None:
        """Deliver due e-mail, at most once a poll interval (not while the database is unreachable); run the
        daily purge when it is due."""
        self.purge_if_due()
        now = time.monotonic()
        if self._outage_waits or now - self._last_mail < self.settings.worker_poll_seconds:
            return
        self._last_mail = now
        try:
            mailer.deliver_due(self.uow_factory, self.settings)
        except ServiceUnavailable:
            # The database went away between two rounds: already logged by the unit of work; the next round
            # after it is back delivers what is due.
            log.info("e-mail delivery round skipped: database unavailable")
        except Exception:
            log.error("e-mail delivery round failed", exc_info=True)

    def purge_if_due(self) -> None:
        now = time.monotonic()
        if self._outage_waits or now - self._last_purge_check < PURGE_CHECK_SECONDS:
            return
        self._last_purge_check = now
        try:
            retention.purge_if_due(
                self.uow_factory,
                batch_days=self.settings.retain_batch_days,
                mail_days=self.settings.retain_mail_days,
            )
        except Exception:
            log.error("retention purge failed", exc_info=True)

    def run_job(self, job: b.BatchJob) -> None:
        extra = {"job_id": job.id}
        if job.attempts > MAX_TAKEOVERS:
            PROCESSORS[job.kind].fail_job(
                self.uow_factory(),
                job=job,
                reason=f"The job could not be processed: its worker stopped {job.attempts} times on it.",
            )
            return
        detail = f"{self.worker_id} (takeovers {job.attempts})"
        log.info("batch job claimed", extra={**extra, "detail": detail})
        largest = max(1, int(self.settings.worker_chunk_size))
        chunk_size = largest
        one_by_one = 0  # records still to be done one per transaction after an unexpected failure
        failures = 0
        stale = 0
        try:
            while True:
                if self.stop.is_set() or self.under_maintenance():
                    bp.release(self.uow_factory(), job_id=job.id, worker_id=self.worker_id)
                    log.info("batch job released", extra=extra)
                    return
                self.tick()
                size = 1 if one_by_one else chunk_size
                started = time.monotonic()
                try:
                    result = PROCESSORS[job.kind].process_chunk(
                        self.uow_factory(),
                        job=job,
                        worker_id=self.worker_id,
                        chunk_size=size,
                        lease_seconds=self.lease_seconds,
                    )
                except bp.LeaseLost:
                    log.warning("batch job lease lost; another worker has it", extra=extra)
                    return
                except ServiceUnavailable as exc:
                    # The chunk rolled back whole: keep the job (and its lease) and do the chunk again.
                    self._wait_for_database(exc, extra)
                    continue
                except StaleVersion:
                    # An achievement changed under the chunk (a concurrent single-record change): the chunk
                    # rolled back whole; do it again.
                    stale += 1
                    if stale <= MAX_STALE_RETRIES:
                        continue
                    stale = 0
                    failures, one_by_one = self._after_failure(job, failures, one_by_one, chunk_size)
                    continue
                except Exception:
                    log.error("batch chunk failed", exc_info=True, extra=extra)
                    failures, one_by_one = self._after_failure(job, failures, one_by_one, chunk_size)
                    continue
                self._database_back(extra)
                failures = stale = 0
                if one_by_one:
                    one_by_one -= 1
                elif result.processed:
                    chunk_size = next_chunk_size(
                        chunk_size,
                        result.processed,
                        time.monotonic() - started,
                        self.settings.worker_chunk_seconds,
                        largest,
                    )
                self.stats.records += result.processed
                if self.on_chunk is not None:
                    self.on_chunk(job, result)
                if result.finished:
                    self.stats.jobs += 1
                    return
                if self._yield_to_others(job):
                    log.info("batch job given back for another organisation's job", extra=extra)
                    return
        except bp.LeaseLost:
            log.warning("batch job lease lost; another worker has it", extra=extra)

    def _yield_to_others(self, job: b.BatchJob) -> bool:
        try:
            return bp.yield_to_others(self.uow_factory(), job=job, worker_id=self.worker_id)
        except ServiceUnavailable:
            return False  # the next chunk meets the outage and waits for the database, keeping the job

    def under_maintenance(self) -> bool:
        """Planned maintenance is on (read at most once a second); logged when it begins and ends."""
        try:
            window = self.maintenance.current()
        except ServiceUnavailable:
            return False  # the claim or chunk that follows meets the outage and waits for the database
        if (window is not None) != self._in_maintenance:
            self._in_maintenance = window is not None
            state = "batch jobs wait for the end of maintenance" if window else "maintenance ended"
            log.info(state, extra={"detail": self.worker_id})
        return window is not None

    def _wait_for_database(self, exc: ServiceUnavailable, extra: dict[str, Any]) -> None:
        """Wait before trying again: 0.5 s, doubling up to MAX_OUTAGE_WAIT; the cause is logged once."""
        if not self._outage_waits:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            log.warning(
                "database unavailable; the batch worker keeps its job and tries again",
                extra={**extra, "error": database_cause(cause)},
            )
        self._outage_waits += 1
        self.stop.wait(min(MAX_OUTAGE_WAIT, 0.5 * 2 ** (self._outage_waits - 1)))

    def _database_back(self, extra: dict[str, Any] | None = None) -> None:
        if self._outage_waits:
            log.info("database reachable again; the batch worker goes on", extra=extra or {})
            self._outage_waits = 0

    def _after_failure(
        self, job: b.BatchJob, failures: int, one_by_one: int, chunk_size: int
    ) -> tuple[int, int]:
        if not one_by_one:
            return 0, chunk_size  # retry the chunk's records one per transaction
        failures += 1
        if failures >= RECORD_ATTEMPTS:
            PROCESSORS[job.kind].refuse_next_record(
                self.uow_factory(), job=job, worker_id=self.worker_id, lease_seconds=self.lease_seconds
            )
            return 0, max(0, one_by_one - 1)
        self.stop.wait(min(5.0, 0.5 * 2**failures))
        return failures, one_by_one


def next_chunk_size(size: int, processed: int, seconds: float, target: float, largest: int) -> int:
    """The size of the next chunk after one of `processed` records took `seconds`: in proportion to the
    target when it took longer (a chunk's transaction holds locks; on SQLite the only write lock), back up
    to `largest` by doubling once chunks are quick again."""
    if seconds > target:
        return max(1, min(largest, int(processed * target / seconds)))
    if seconds < target / 2:
        return min(largest, size * 2)
    return size


def run_worker(
    wiring: Any, stop_event: threading.Event, *, once: bool = False, worker_id: str | None = None
) -> WorkerStats:
    """The loop of an `lrs-ws worker` process."""
    return BatchWorker(wiring, stop_event, worker_id=worker_id).run(once=once)
