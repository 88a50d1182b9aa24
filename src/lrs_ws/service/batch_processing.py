"""Processing a batch job, one chunk of records per transaction.

Every record of a chunk is validated and decided on its own (service/records.py, the same rules as the
single-record operations): a refused record is written as failed with its error code and never stops the
others. The chunk's new achievements, audit events, record outcomes and job counts are written together and
committed once, while the worker holds the job's lease. A worker that dies mid-chunk leaves nothing of that
chunk behind, and the next worker does the chunk again: no record is applied twice or lost.

For speed the chunk's learners, aims and candidate achievements are read in a few queries (only the
achievements its records can match, by indexed keys), and the new achievements and audit events are inserted
in bulk.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from lrs_ws.domain import batch as b
from lrs_ws.domain import errors as e
from lrs_ws.domain import model
from lrs_ws.domain.batch import ChunkContext, ChunkKeys
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.error_codes import INTERNAL_RECORD_MESSAGE, record_error
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.records import Aim
from lrs_ws.service import audit, record_rules, records
from lrs_ws.service.auth import Caller
from lrs_ws.service.batch_codec import chunk_records, decode_values, encode_values
from lrs_ws.service.batch_mail import job_finished_mail

log = logging.getLogger("lrs_ws.batch")

AUDIT_PREFIX = "Batch"


class LeaseLost(Exception):
    """Another worker holds the job now (ours ran out): stop without writing anything."""


def renew_lease(
    uow: AbstractUnitOfWork, job: b.BatchJob, worker_id: str, now: datetime, lease_seconds: int
) -> int:
    """The first statement of a chunk's transaction: renew this worker's lease on the job, which (on
    PostgreSQL) locks the job row, so no other worker can commit a chunk of this job until we are done.
    Returns the job's cursor: the records before it are done (their outcomes were committed with the cursor).
    Raises LeaseLost when the job is no longer this worker's."""
    start = uow.batch_queue.renew_lease(job.id, worker_id, now, now + timedelta(seconds=lease_seconds))
    if start is None:
        raise LeaseLost(job.id)
    return start


def pending_records(uow: AbstractUnitOfWork, job: b.BatchJob, start: int, stop: int) -> list[list[Any]]:
    """The job's records as submitted at positions start..stop-1."""
    return chunk_records(uow.batch_chunks.payloads(job.id, start, stop), start, stop)


@dataclass(frozen=True)
class ChunkResult:
    processed: int
    finished: bool
    status: str | None = None


class ChunkView:
    """records.RecordView over what one chunk read in bulk, kept current as its records are decided."""

    def __init__(self, context: ChunkContext) -> None:
        self._learners = context.learners
        self._aims = context.aims
        self._targets: dict[tuple[str, str], list[model.AchievementData]] = defaultdict(list)
        for achievement in context.achievements:
            self._targets[(achievement.uln, achievement.reference)].append(achievement)

    def learner(self, uln: str) -> model.LearnerData | None:
        return self._learners.get(uln)

    def aim(self, reference: str) -> Aim | None:
        return self._aims.get(reference)

    def matching(
        self, organisation_id: int, uln: str, reference: str, mis_identifier: str | None
    ) -> Sequence[model.AchievementData]:
        return [
            a
            for a in self._targets.get((uln, reference), ())
            if a.organisation_id == organisation_id
            and not a.deleted
            and (not mis_identifier or a.mis_identifier == mis_identifier)
        ]

    def new_achievement(self, **fields: Any) -> model.AchievementData:
        # Not mapped: the chunk's new achievements are inserted in bulk once the chunk is decided.
        achievement = model.AchievementData(**fields)
        self._targets[(achievement.uln, achievement.reference)].append(achievement)
        return achievement


def claim_next(uow: AbstractUnitOfWork, *, worker_id: str, lease_seconds: int) -> b.BatchJob | None:
    """Take the next claimable job for this worker, fairly between organisations (its lease starts now)."""
    now = utcnow()
    with uow:
        job = uow.batch_queue.claim(worker_id, now, now + timedelta(seconds=lease_seconds))
        uow.commit()
        return job


def yield_to_others(uow: AbstractUnitOfWork, *, job: b.BatchJob, worker_id: str) -> bool:
    """Give the job back between two chunks when another organisation's job is waiting, so that one
    organisation's large job never holds up the others' (the claim then takes the organisation served
    longest ago). True when the job was given back."""
    now = utcnow()
    with uow:
        if not uow.batch_queue.waiting_elsewhere(job.organisation_id, now):
            return False
        uow.batch_queue.release(job.id, worker_id, now)
        uow.commit()
    return True


def release(uow: AbstractUnitOfWork, *, job_id: int, worker_id: str) -> None:
    """Give a job back at once (a graceful stop between chunks)."""
    with uow:
        uow.batch_queue.release(job_id, worker_id, utcnow())
        uow.commit()


def give_back(uow: AbstractUnitOfWork, *, worker_id: str, count_takeover: bool) -> int | None:
    """Give back the job of a worker process that is gone, without waiting for its lease to run out.

    `count_takeover` when the cause is unknown (the process died): it counts toward failing the job. A
    worker stopped by its supervisor is not the job's fault and does not count. Returns the job's id.
    """
    with uow:
        job_id = uow.batch_queue.give_back(worker_id, utcnow(), count_takeover)
        uow.commit()
    if job_id is not None:
        log.warning("batch job given back", extra={"job_id": job_id, "detail": worker_id})
    return job_id


def _caller(job: b.BatchJob) -> Caller:
    return Caller(
        user_id=job.user_id,
        username=job.username,
        organisation_id=job.organisation_id,
        organisation_ref=job.organisation_ref,
        roles=frozenset({model.ROLE_AO_USER}),
        email=job.email,
        request_id=f"batch-job-{job.id}",
    )


def submitter_gone(uow: AbstractUnitOfWork, job: b.BatchJob, stopped: str) -> str | None:
    """Why the job's submitting user can no longer have it worked on in their name (None when they still can),
    after `stopped` (what was left undone): checked before each chunk of any batch job, since it may have
    waited."""
    user = uow.users.by_username(job.username)
    same_user = user is not None and (user.id, user.organisation_id) == (job.user_id, job.organisation_id)
    if user is None or not same_user or not user.active:
        return f"{stopped} the submitting user {job.username} is no longer active."
    if model.ROLE_AO_USER not in user.role_set:
        return f"{stopped} the submitting user {job.username} no longer has the AO_USER role."
    return None


def submitter_refusal(uow: AbstractUnitOfWork, job: b.BatchJob) -> str | None:
    """Why the job's submitter can no longer have it applied in their name (None when they still can): the
    same conditions as submitting it, checked again before each chunk, since the job may have waited."""
    stopped = "Records not yet processed were not applied:"
    if (gone := submitter_gone(uow, job, stopped)) is not None:
        return gone
    organisation = uow.organisations.get(job.organisation_id)
    if organisation is None or not organisation.batch_enabled:
        return f"{stopped} the organisation is no longer enabled for achievement batches."
    return None


def _refusal(item: list[Any], error: e.DomainError) -> b.RecordOutcome:
    """A failed record's outcome; it keeps the record for the error file. `item` is [line, values...]."""
    code, category = record_error(type(error))
    rule = record_rules.rule_of(error)
    return b.RecordOutcome(
        item[0],
        b.REFUSED,
        error_code=code,
        error_category=category,
        error_message=error.message,
        payload=encode_values(item[1:]),
        rule_id=rule.rule_id,
        field=record_rules.field_of(rule, error),
    )


def _outcome_name(change: records.Change) -> str:
    if change.action == records.ACTION_CREATE:
        return b.CREATED if change.created else b.PROMOTED_TO_FINAL
    return {
        records.ACTION_UPDATE: b.UPDATED,
        records.ACTION_WITHDRAW: b.WITHDRAWN,
        records.ACTION_REINSTATE: b.REINSTATED,
    }[change.action]


def _finish(
    uow: AbstractUnitOfWork, job: b.BatchJob, worker_id: str | None, failed: str | None = None
) -> str:
    """End the job (in the caller's transaction) with counts from its records, and queue the submitter's
    e-mail. `failed` ends it Failed with that reason whatever its records did. The records as submitted are
    deleted: nothing reads them once the job has ended (a failed record's outcome keeps its own copy for
    the error file)."""
    now = utcnow()
    counts = uow.batch_chunks.counts_from_records(job.id)
    status, reason = (b.FAILED, failed) if failed else b.final_status(counts)
    if uow.batch_queue.finish(job.id, worker_id, status, reason, counts, now):
        uow.batch_chunks.delete_payloads(job.id)
        uow.outbox.add(job_finished_mail(uow, job, status, counts, reason, now), now)
    log.info(
        "batch job finished",
        extra={"job_id": job.id, "detail": f"{status}: {counts.successful} of {counts.records} applied"},
    )
    return status


# -- one chunk's records, decided: shared by the worker and dry-run validation (batch_validation.py) ----

Parsed = list[tuple[list[Any], records.CleanRecord | e.DomainError]]


def parse_records(rows: Sequence[list[Any]], today: date) -> Parsed:
    """Each stored [line, values...] item with its clean record, or the field error that refuses it."""
    parsed: Parsed = []
    for row in rows:
        try:
            parsed.append((row, records.clean(decode_values(row[1:]), today)))
        except e.DomainError as exc:
            parsed.append((row, exc))
    return parsed


def context_keys(parsed: Parsed) -> ChunkKeys:
    """What the clean records refer to (for chunk_context): each achievement lookup as narrow as the record's
    rule needs it (records.decide)."""
    keys = ChunkKeys(set(), set(), set(), set(), set())
    for _, r in parsed:
        if not isinstance(r, records.CleanRecord):
            continue
        keys.ulns.add(r.uln)
        keys.references.add(r.reference)
        if r.mis_identifier:
            keys.by_mis_identifier.add((r.uln, r.reference, r.mis_identifier))
        elif r.action == records.ACTION_CREATE:
            keys.by_award_date.add((r.uln, r.reference, r.award_date))
        else:
            keys.by_target.add((r.uln, r.reference))
    return keys


@dataclass
class Decided:
    """What a chunk's records would do, in order: refused records' outcomes, the applied changes (item,
    change, achievement status), the new achievements (unsaved) with their versions, and the counts."""

    refused: list[b.RecordOutcome] = field(default_factory=list)
    applied: list[tuple[list[Any], records.Change, str]] = field(default_factory=list)
    new: list[model.AchievementData] = field(default_factory=list)
    versions: dict[int, int] = field(default_factory=dict)
    delta: b.BatchCounts = field(default_factory=b.BatchCounts)


def decide_records(
    view: records.RecordView,
    caller: Caller,
    parsed: Parsed,
    submission_type: str,
    now: datetime,
    *,
    write_existing: Callable[[], None],
) -> Decided:
    """Decide each record in order against `view` (which sees the changes of the records before it).

    `write_existing` is called after an existing achievement was changed in memory: the worker writes its
    versioned UPDATE then; dry-run validation, which never writes, passes a function that does nothing.
    """
    out = Decided()
    for row, item in parsed:
        if isinstance(item, e.DomainError):
            out.refused.append(_refusal(row, item))
            out.delta.count_refused(out.refused[-1].error_category or b.BUSINESS_ERROR)
            continue
        try:
            change = records.decide(view, caller, item, submission_type, now)
        except e.DomainError as exc:
            out.refused.append(_refusal(row, exc))
            out.delta.count_refused(out.refused[-1].error_category or b.BUSINESS_ERROR)
            continue
        achievement = change.achievement
        if change.created:
            out.new.append(achievement)
            out.versions[id(achievement)] = 1
        elif id(achievement) in out.versions:
            out.versions[id(achievement)] += 1  # changed again before it is inserted
        else:
            write_existing()  # an existing achievement: its versioned UPDATE now, as a single-record change
        out.applied.append((row, change, achievement.status))
        out.delta.count_applied(_outcome_name(change), change.promoted, achievement.status == model.FINAL)
    return out


def process_chunk(
    uow: AbstractUnitOfWork, *, job: b.BatchJob, worker_id: str, chunk_size: int, lease_seconds: int
) -> ChunkResult:
    """Process the job's next `chunk_size` pending records in one transaction; finish the job after its last.

    Raises LeaseLost when the job is no longer this worker's, and StaleVersion when a concurrent change to
    an achievement made the chunk roll back (do it again).
    """
    now = utcnow()
    with uow:
        queue, chunks = uow.batch_queue, uow.batch_chunks
        start = renew_lease(uow, job, worker_id, now, lease_seconds)
        if (refusal := submitter_refusal(uow, job)) is not None:
            status = _finish(uow, job, worker_id, failed=refusal)
            uow.commit()
            log.warning("batch job refused", extra={"job_id": job.id, "detail": refusal})
            return ChunkResult(0, True, status)
        stop = min(start + chunk_size, job.counts.records)
        rows = pending_records(uow, job, start, stop) if start < stop else []
        if not rows:
            status = _finish(uow, job, worker_id)
            uow.commit()
            return ChunkResult(0, True, status)

        caller = _caller(job)
        parsed = parse_records(rows, now.date())
        view = ChunkView(chunks.chunk_context(job.organisation_id, context_keys(parsed)))
        decided = decide_records(view, caller, parsed, job.submission_type, now, write_existing=uow.flush)
        new, applied, refused, delta = decided.new, decided.applied, decided.refused, decided.delta
        versions = decided.versions

        chunks.insert_achievements(new, [versions[id(a)] for a in new])
        chunks.insert_audit_events(
            [
                {
                    "at": now,
                    "user_id": caller.user_id,
                    "username": caller.username,
                    "organisation_id": caller.organisation_id,
                    "operation": f"{AUDIT_PREFIX}{change.operation}",
                    "achievement_id": change.achievement.id,
                    "edc_id": None,
                    "before": audit.encode(change.before),
                    "after": audit.encode(change.after),
                    "request_id": caller.request_id,
                }
                for _, change, _ in applied
            ]
        )
        chunks.insert_outcomes(
            job.id,
            refused
            + [
                b.RecordOutcome(
                    row[0],
                    b.APPLIED,
                    outcome=_outcome_name(change),
                    promoted=change.promoted,
                    achievement_status=status,
                    achievement_id=change.achievement.id,
                )
                for row, change, status in applied
            ],
        )
        queue.add_counts(job.id, delta)
        finished_status = None
        if start + len(rows) >= job.counts.records:
            finished_status = _finish(uow, job, worker_id)
        uow.commit()
        return ChunkResult(len(rows), finished_status is not None, finished_status)


def refuse_next_record(
    uow: AbstractUnitOfWork, *, job: b.BatchJob, worker_id: str, lease_seconds: int
) -> bool:
    """Mark the job's next pending record failed with an internal error (it failed to process again and
    again), so the rest of the job can go on. False when there is none."""
    now = utcnow()
    with uow:
        queue, chunks = uow.batch_queue, uow.batch_chunks
        start = renew_lease(uow, job, worker_id, now, lease_seconds)
        rows = pending_records(uow, job, start, start + 1)
        if not rows:
            return False
        code, category = record_error(None)
        chunks.insert_outcomes(
            job.id,
            [
                b.RecordOutcome(
                    rows[0][0],
                    b.REFUSED,
                    error_code=code,
                    error_category=category,
                    error_message=INTERNAL_RECORD_MESSAGE,
                    payload=encode_values(rows[0][1:]),
                    rule_id=record_rules.rule_of(None).rule_id,
                )
            ],
        )
        delta = b.BatchCounts()
        delta.count_refused(category)
        queue.add_counts(job.id, delta)
        uow.commit()
        log.error("batch record given up", extra={"job_id": job.id, "detail": f"line {rows[0][0]}"})
        return True


def fail_job(uow: AbstractUnitOfWork, *, job: b.BatchJob, reason: str) -> None:
    """End a job that cannot be processed: Failed, with the counts of what was done."""
    with uow:
        _finish(uow, job, None, failed=reason)
        uow.commit()
    log.error("batch job failed", extra={"job_id": job.id, "detail": reason})
