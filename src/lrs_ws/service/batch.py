"""Achievement batch jobs: the request's rules and the submission (SOAP or file).

A submission is refused as a whole (no job is created) for the request-level reasons of docs/batch.md;
otherwise the job and its records are stored in one transaction and the caller gets the job id at once.
Workers do the rest (service/batch_processing.py). How records are stored and how failed ones are written
out (the error file) is service/batch_codec.py, which every batch module uses. Reading jobs back (a caller's,
an operator's) is service/batch_queries.py.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO

from lrs_ws.domain import batch as b
from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.batch import NewJob
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service import records
from lrs_ws.service.auth import Caller
from lrs_ws.service.batch_codec import payload_chunks, record_values, row_values
from lrs_ws.service.records import FIELD_NAMES, AchievementRecord

OP_BATCH = "achievement batches"


def check_request(
    uow: AbstractUnitOfWork,
    organisation_id: int,
    email: str | None,
    submission_type: str | None,
    *,
    email_optional: bool = False,
) -> tuple[str | None, str]:
    """(clean e-mail, Final|Provisional), or the request-level refusal in the contract's order.

    With `email_optional` (dry-run validation) an absent e-mail address is not checked."""
    organisation = uow.organisations.get(organisation_id)
    if organisation is None or not organisation.batch_enabled:
        raise e.BatchNotEnabled()
    clean_email = None
    if not (email_optional and email is None):
        try:
            clean_email = values.check_email(email)
        except e.InvalidValue as exc:
            raise e.BatchEmailInvalid(exc.message) from None
    return clean_email, records.check_submission_type(submission_type)


def check_size(count: int, max_achievements: int) -> None:
    """The number of achievements a request may hold (after the checks of check_request)."""
    if count > max_achievements:
        raise e.TooManyAchievements(count, max_achievements)
    if not count:
        raise e.NoAchievements("At least one achievement is required.")


def check_queue(uow: AbstractUnitOfWork, organisation_id: int, submitted: int, limit: int) -> None:
    """Refuse a job that would leave more than `limit` of the organisation's records waiting (QueueFull)."""
    waiting = uow.batch_queue.queued_records(organisation_id)
    if waiting + submitted > limit:
        raise e.QueueFull(waiting, submitted, limit)


def submit(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    email: str | None,
    submission_type: str | None,
    achievements: Sequence[AchievementRecord] | None,
    max_achievements: int,
    max_queued_records: int,
) -> int:
    """SubmitAchievementBatchJob: store the job and its records (status Waiting) and return its id."""
    caller.require(model.ROLE_AO_USER, OP_BATCH)
    items = list(achievements or [])
    with uow:
        clean_email, status = check_request(uow, caller.organisation_id, email, submission_type)
        check_size(len(items), max_achievements)
        check_queue(uow, caller.organisation_id, len(items), max_queued_records)
        assert clean_email is not None
        job_id = uow.batch_queue.add_job(
            NewJob(
                caller.organisation_id,
                caller.user_id,
                caller.username,
                clean_email,
                status,
                b.SOURCE_SOAP,
                None,
                utcnow(),
            )
        )
        count = uow.batch_chunks.add_payloads(
            job_id, payload_chunks((i, record_values(r)) for i, r in enumerate(items, 1))
        )
        uow.batch_queue.set_record_count(job_id, count)
        uow.commit()
        return job_id


# -- achievement batch files ---------------------------------------------------------------------------------


def csv_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a batch file whose header names the 15 Achievement fields (any order, any case).

    Streams: one row at a time, whatever the file's size.
    """
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise e.NoAchievements("The file is empty: at least one achievement is required.")
    canonical = {name.lower(): name for name in FIELD_NAMES}
    names = [canonical.get(h.strip().lower(), "") for h in header]
    unknown = [h for h, n in zip(header, names, strict=True) if not n]
    missing = [n for n in FIELD_NAMES if n not in names]
    if unknown or missing:
        raise e.InvalidValue(
            "header",
            "The header row must name the 15 Achievement fields "
            f"({', '.join(FIELD_NAMES)})"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + ".",
        )
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        yield reader.line_num, dict(zip(names, cells, strict=False))


def file_submitter(
    uow: AbstractUnitOfWork, organisation_ref: str, username: str | None
) -> tuple[model.Organisation, model.User | None]:
    """The organisation and (when named) the user a batch file is submitted or checked for, refused in the
    operator's words; the user gets SubmitAchievementBatchJob's role check, as the job's changes are audited
    under it."""
    ref = values.check_org_ref(organisation_ref)
    organisation = uow.organisations.by_ref(ref)
    if organisation is None:
        raise e.UnknownOrganisation(ref)
    user = None
    if username is not None:
        name = username.strip()[:100]
        user = uow.users.by_username(name)
        if user is None or user.organisation_id != organisation.id:
            raise e.UnknownUser(name, ref)
        if not user.active:
            raise e.InvalidValue("user", f"The user {name} is deactivated: it cannot submit batch files.")
    if not organisation.active:
        raise e.InvalidValue(
            "organisation", f"The organisation {ref} is deactivated: it cannot submit batch files."
        )
    if user is not None:
        Caller.of(user, organisation, "").require(model.ROLE_AO_USER, OP_BATCH)
    return organisation, user


def submit_file(
    uow: AbstractUnitOfWork,
    *,
    organisation_ref: str,
    username: str,
    email: str | None,
    submission_type: str | None,
    filename: str,
    rows: Iterable[tuple[int, Mapping[str, str | None]]],
    max_queued_records: int,
) -> int:
    """An operator submits a batch file for a user of an organisation: it becomes one job, whatever its size
    (the per-request maximum applies to SOAP requests only). Rows are streamed into the job in one
    transaction, so a file is either wholly submitted or not at all."""
    with uow:
        organisation, user = file_submitter(uow, organisation_ref, username)
        assert organisation.id is not None and user is not None and user.id is not None
        clean_filename = values.check_text("filename", filename, 255, required=True)
        clean_email, status = check_request(uow, organisation.id, email or user.email, submission_type)
        assert clean_email is not None
        job_id = uow.batch_queue.add_job(
            NewJob(
                organisation.id,
                user.id,
                user.username,
                clean_email,
                status,
                b.SOURCE_FILE,
                clean_filename,
                utcnow(),
            )
        )
        count = uow.batch_chunks.add_payloads(
            job_id, payload_chunks((line, row_values(row)) for line, row in rows)
        )
        if count == 0:
            raise e.NoAchievements("The file holds no achievements.")
        # Counted after the rows are read (a file's size is known only then); the refusal rolls them back.
        check_queue(uow, organisation.id, count, max_queued_records)
        uow.batch_queue.set_record_count(job_id, count)
        uow.commit()
        return job_id
