"""Learner verification batches (the portal's "Submit Batch Job" / "View Batch Jobs" under Learner
Verification): up to 5,000 learners verified as one job, by the same durable job machinery as achievement
batches (stored on submit, processed chunk by chunk by `lrs-ws worker`, owned by the submitting organisation).

A verification batch changes nothing but its own job: each learner gets the answer VerifyLearner would give,
or the field error that kept it from being verified. The submission is audited once (SubmitVerifyBatchJob,
with the job id and number of learners); the learners are not audited one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from lrs_ws.domain import batch as b
from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.batch import NewJob
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.error_codes import INTERNAL_ERROR, error_code
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.values import Page
from lrs_ws.service import audit, batch, batch_codec
from lrs_ws.service.auth import Caller
from lrs_ws.service.batch_processing import ChunkResult, pending_records, renew_lease, submitter_gone
from lrs_ws.service.verification import OP_VERIFY, check_claim, verify_against_register

log = logging.getLogger("lrs_ws.worker")

MAX_LEARNERS = 5000
FILE_FIELDS = ("Uln", "GivenName", "FamilyName", "DateOfBirth", "Gender")
RESULTS_HEADER = (
    "Line",
    "Uln",
    "GivenName",
    "FamilyName",
    "ResponseCode",
    "FailureFlags",
    "MasterUln",
    "ErrorCode",
    "ErrorMessage",
)
INTERNAL_MESSAGE = "The learner could not be verified; quote the job id to LRS support."


@dataclass(frozen=True)
class LearnerToVerify:
    """One learner as received (SOAP) or read (a file's cells); checked by the worker, as a record is."""

    uln: str | None
    given_name: str | None
    family_name: str | None
    date_of_birth: date | str | None = None
    gender: int | str | None = None

    def payload(self) -> list[Any]:
        born = self.date_of_birth.isoformat() if isinstance(self.date_of_birth, date) else self.date_of_birth
        return [self.uln, self.given_name, self.family_name, born, self.gender]


@dataclass(frozen=True)
class VerifyJobReport:
    job: b.BatchJob
    results: Sequence[b.VerifyResult]


def _check_count(count: int) -> None:
    if count > MAX_LEARNERS:
        raise e.TooManyLearners(count, MAX_LEARNERS)
    if not count:
        raise e.NoLearners("At least one learner is required.")


def _store(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    learners: Iterable[tuple[int, LearnerToVerify]],
    source: str,
    filename: str | None,
    max_queued_records: int,
) -> int:
    job_id = uow.batch_queue.add_job(
        NewJob(
            caller.organisation_id,
            caller.user_id,
            caller.username,
            caller.email or "",
            "",
            source,
            filename,
            utcnow(),
            kind=b.KIND_VERIFY,
        )
    )
    chunks = batch_codec.payload_chunks((line, v.payload()) for line, v in learners)
    count = uow.batch_chunks.add_payloads(job_id, chunks)
    _check_count(count)
    batch.check_queue(uow, caller.organisation_id, count, max_queued_records)
    uow.batch_queue.set_record_count(job_id, count)
    audit.record(uow, caller, "SubmitVerifyBatchJob", utcnow(), after={"JobId": job_id, "Learners": count})
    return job_id


def submit(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    learners: Sequence[LearnerToVerify] | None,
    max_queued_records: int,
) -> int:
    """SubmitVerifyBatchJob: store the job (Waiting) with its learners and return its id. Any organisation's
    AO user may submit one; the organisation need not be enabled for achievement batches."""
    caller.require(model.ROLE_AO_USER, OP_VERIFY)
    items = list(learners or [])
    _check_count(len(items))
    with uow:
        job_id = _store(
            uow,
            caller=caller,
            learners=enumerate(items, 1),
            source=b.SOURCE_SOAP,
            filename=None,
            max_queued_records=max_queued_records,
        )
        uow.commit()
        return job_id


def file_rows(rows: Iterable[tuple[int, Mapping[str, str]]]) -> Iterator[tuple[int, LearnerToVerify]]:
    """A verification file's rows (header Uln,GivenName,FamilyName and optionally DateOfBirth, Gender)."""
    for line, row in rows:
        cells = {name: (row.get(name) or "").strip() or None for name in FILE_FIELDS}
        yield (
            line,
            LearnerToVerify(
                cells["Uln"], cells["GivenName"], cells["FamilyName"], cells["DateOfBirth"], cells["Gender"]
            ),
        )


def submit_file(
    uow: AbstractUnitOfWork,
    *,
    organisation_ref: str,
    username: str | None,
    filename: str,
    rows: Iterable[tuple[int, Mapping[str, str]]],
    max_queued_records: int,
) -> tuple[int, str]:
    """An operator submits a verification file for an organisation, as the named user or, without one, as
    the organisation's active AO user added first. Returns (job id, the user it was submitted as)."""
    with uow:
        organisation, user = batch.file_submitter(uow, organisation_ref, username)
        if user is None:
            user = next(iter(uow.users.with_role(organisation.id or 0, model.ROLE_AO_USER)), None)
            if user is None:
                raise e.InvalidValue(
                    "user", f"The organisation {organisation.ref} has no active AO_USER to submit as."
                )
        caller = Caller.of(user, organisation, "")
        job_id = _store(
            uow,
            caller=caller,
            learners=file_rows(rows),
            source=b.SOURCE_FILE,
            filename=values.check_text("filename", filename, 255, required=True),
            max_queued_records=max_queued_records,
        )
        uow.commit()
        return job_id, user.username


def get_job(uow: AbstractUnitOfWork, *, caller: Caller, job_id: int | None) -> VerifyJobReport:
    """GetVerifyBatchJob: one of the caller organisation's verification jobs with its results so far.
    Another organisation's job, or an achievement batch, answers exactly like one that does not exist."""
    caller.require(model.ROLE_AO_USER, OP_VERIFY)
    with uow:
        job = None
        if job_id is not None:
            job = uow.batch_queue.get(job_id, caller.organisation_id, kind=b.KIND_VERIFY)
        if job is None:
            raise e.UnknownJob(job_id)
        return VerifyJobReport(job, uow.batch_chunks.verify_results(job.id))


def list_jobs(uow: AbstractUnitOfWork, *, caller: Caller, page: Page) -> tuple[int, Sequence[b.BatchJob]]:
    """ListVerifyBatchJobs: the caller organisation's verification jobs, newest first."""
    caller.require(model.ROLE_AO_USER, OP_VERIFY)
    with uow:
        return uow.batch_queue.list(caller.organisation_id, page, kind=b.KIND_VERIFY)


def results(uow: AbstractUnitOfWork, *, job_id: int) -> VerifyJobReport:
    """An operator's view of a verification job and its results (the CLI)."""
    with uow:
        job = uow.batch_queue.get(job_id, None, kind=b.KIND_VERIFY)
        if job is None:
            raise e.UnknownJob(job_id, operator=True)
        return VerifyJobReport(job, uow.batch_chunks.verify_results(job.id))


# -- the worker ----------------------------------------------------------------------------------------------


def _parse_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise e.InvalidValue("DateOfBirth", "DateOfBirth must be a date (yyyy-mm-dd).") from None


def _parse_gender(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise e.InvalidValue("Gender", "Gender must be 0, 1, 2 or 9.") from None


def _register_of(uow: AbstractUnitOfWork, rows: Sequence[Sequence[Any]]) -> dict[str, model.Learner]:
    """The chunk's learners and the masters of those merged, in two queries."""
    found = uow.learners.by_ulns({str(row[1]).strip() for row in rows if row[1]})
    masters = {x.merged_into for x in found.values() if x.merged_into and x.merged_into not in found}
    return {**found, **uow.learners.by_ulns(masters)}


def verify_item(
    lookup: Callable[[str], model.Learner | None], item: Sequence[Any], today: date
) -> b.VerifyResult:
    """One stored [line, uln, given, family, born, gender] item, verified as VerifyLearner would."""
    line, uln, given, family, born, gender = item
    try:
        clean_uln = values.check_uln(uln)
        claim = check_claim(
            given_name=given,
            family_name=family,
            date_of_birth=_parse_date(born),
            gender=_parse_gender(gender),
            today=today,
        )
    except e.DomainError as exc:
        code = error_code(exc)
        return b.VerifyResult(line, str(uln or ""), error_code=code, error_message=exc.message)
    found = verify_against_register(lookup, clean_uln, claim)
    answer = found.verification
    return b.VerifyResult(line, clean_uln, answer.response_code, answer.failure_flags, found.master_uln)


def _still_allowed(uow: AbstractUnitOfWork, job: b.BatchJob) -> str | None:
    """Why the submitter can no longer have learners verified in their name (checked before each chunk)."""
    return submitter_gone(uow, job, "Learners not yet verified were not verified:")


def _finish(
    uow: AbstractUnitOfWork, job: b.BatchJob, worker_id: str | None, failed: str | None = None
) -> str:
    current = uow.batch_queue.get(job.id, None, kind=None)
    counts = current.counts if current is not None else job.counts
    status = b.FAILED if failed else b.SUCCESSFUL
    if uow.batch_queue.finish(job.id, worker_id, status, failed, counts, utcnow()):
        uow.batch_chunks.delete_payloads(job.id)
    log.info(
        "verification job finished", extra={"job_id": job.id, "detail": f"{status}: {counts.done} verified"}
    )
    return status


def process_chunk(
    uow: AbstractUnitOfWork, *, job: b.BatchJob, worker_id: str, chunk_size: int, lease_seconds: int
) -> ChunkResult:
    """Verify the job's next `chunk_size` learners in one transaction (results and cursor together); finish
    the job after its last. Raises LeaseLost when the job is no longer this worker's."""
    now = utcnow()
    with uow:
        start = renew_lease(uow, job, worker_id, now, lease_seconds)
        if (refusal := _still_allowed(uow, job)) is not None:
            status = _finish(uow, job, worker_id, failed=refusal)
            uow.commit()
            return ChunkResult(0, True, status)
        stop = min(start + chunk_size, job.counts.records)
        rows = pending_records(uow, job, start, stop)
        register = _register_of(uow, rows)
        done = [verify_item(register.get, row, now.date()) for row in rows]
        uow.batch_chunks.insert_verify_results(job.id, done)
        delta = b.BatchCounts(done=len(done), field_errors=sum(1 for r in done if r.error_code))
        uow.batch_queue.add_counts(job.id, delta)
        finished = _finish(uow, job, worker_id) if start + len(rows) >= job.counts.records else None
        uow.commit()
        return ChunkResult(len(rows), finished is not None, finished)


def refuse_next_record(
    uow: AbstractUnitOfWork, *, job: b.BatchJob, worker_id: str, lease_seconds: int
) -> bool:
    """Answer the job's next learner with an internal error (it failed again and again), so the rest of the
    job goes on. False when there is none."""
    now = utcnow()
    with uow:
        start = renew_lease(uow, job, worker_id, now, lease_seconds)
        rows = pending_records(uow, job, start, start + 1)
        if not rows:
            return False
        uow.batch_chunks.insert_verify_results(
            job.id,
            [
                b.VerifyResult(
                    rows[0][0],
                    str(rows[0][1] or ""),
                    error_code=INTERNAL_ERROR.code,
                    error_message=INTERNAL_MESSAGE,
                )
            ],
        )
        uow.batch_queue.add_counts(job.id, b.BatchCounts(done=1, business_errors=1))
        uow.commit()
        return True


def fail_job(uow: AbstractUnitOfWork, *, job: b.BatchJob, reason: str) -> None:
    """End a verification job that cannot be processed: Failed, with what was verified so far."""
    with uow:
        _finish(uow, job, None, failed=reason)
        uow.commit()
