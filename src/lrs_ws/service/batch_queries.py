"""Achievement batch jobs read back: a caller's job with its error file and the list of its organisation's
jobs (SOAP), and the operator's view of any job (the CLI: its status, its error rows, cancelling one that has
not started).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lrs_ws.domain import batch as b
from lrs_ws.domain import errors as e
from lrs_ws.domain import model
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.values import Page
from lrs_ws.service.auth import Caller
from lrs_ws.service.batch import OP_BATCH
from lrs_ws.service.batch_codec import error_file, error_rows


@dataclass(frozen=True)
class JobReport:
    job: b.BatchJob
    error_file: str | None


def get_job(uow: AbstractUnitOfWork, *, caller: Caller, job_id: int | None) -> JobReport:
    """GetAchievementBatchJob: one of the caller organisation's jobs, with its error file so far.

    Another organisation's job answers exactly like one that does not exist.
    """
    caller.require(model.ROLE_AO_USER, OP_BATCH)
    with uow:
        job = uow.batch_queue.get(job_id, caller.organisation_id) if job_id is not None else None
        if job is None:
            raise e.UnknownJob(job_id)
        return JobReport(job, error_file(uow.batch_chunks.failed_records(job.id)))


def list_jobs(uow: AbstractUnitOfWork, *, caller: Caller, page: Page) -> tuple[int, Sequence[b.BatchJob]]:
    """ListAchievementBatchJobs: the caller organisation's jobs, newest first."""
    caller.require(model.ROLE_AO_USER, OP_BATCH)
    with uow:
        return uow.batch_queue.list(caller.organisation_id, page)


def job_status(uow: AbstractUnitOfWork, *, job_id: int) -> b.BatchJob:
    """An operator's view of any job (the CLI)."""
    with uow:
        job = uow.batch_queue.get(job_id, None, kind=None)
        if job is None:
            raise e.UnknownJob(job_id, operator=True)
        return job


def no_worker_for(uow: AbstractUnitOfWork, *, job_id: int) -> bool:
    """True when the job is still Waiting and no worker holds any job: no worker seems to be running (an idle
    worker claims a Waiting job within its poll interval; a busy one holds a live lease)."""
    with uow:
        job = uow.batch_queue.get(job_id, None, kind=None)
        return job is not None and job.status == b.WAITING and uow.batch_queue.leased_jobs(utcnow()) == 0


def cancel_job(uow: AbstractUnitOfWork, *, job_id: int) -> b.BatchJob:
    """An operator cancels a job that has not started (or was given back by a stopping worker)."""
    with uow:
        job = uow.batch_queue.get(job_id, None, kind=None)
        if job is None:
            raise e.UnknownJob(job_id, operator=True)
        if not uow.batch_queue.cancel(job_id, utcnow()):
            raise e.InvalidTransition("batch job", job.status, "cancelled")
        uow.commit()
    return job_status(uow, job_id=job_id)


def job_errors(uow: AbstractUnitOfWork, *, job_id: int, each: Callable[[list[str | None]], None]) -> int:
    """Stream a job's error rows to `each` (the CLI); returns how many."""
    count = 0
    with uow:
        if uow.batch_queue.get(job_id, None, kind=None) is None:
            raise e.UnknownJob(job_id, operator=True)
        for row in error_rows(uow.batch_chunks.failed_records(job_id)):
            each(row)
            count += 1
    return count
