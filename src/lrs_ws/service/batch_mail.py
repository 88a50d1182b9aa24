"""The e-mail a batch job's submitter gets when the job ends (queued in the outbox, same transaction)."""

from __future__ import annotations

from datetime import datetime

from lrs_ws.domain import batch as b
from lrs_ws.domain.mail import Attachment, OutgoingMail
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service.batch_codec import error_file

# Larger error files are not attached: the message says where to read them.
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024


def _error_file_bytes(uow: AbstractUnitOfWork, job_id: int) -> tuple[bytes | None, bool]:
    """(the error file as UTF-8, whether it was too large to attach)."""
    text = error_file(uow.batch_chunks.failed_records(job_id))
    if text is None:
        return None, False
    data = text.encode("utf-8")
    return (None, True) if len(data) > MAX_ATTACHMENT_BYTES else (data, False)


def job_finished_mail(
    uow: AbstractUnitOfWork,
    job: b.BatchJob,
    status: str,
    counts: b.BatchCounts,
    reason: str | None,
    ended: datetime,
) -> OutgoingMail:
    c = counts
    name = job.filename or "SubmitAchievementBatchJob"
    lines = [
        f"Achievement batch job {job.id} ({name}, {job.submission_type}), submitted by {job.username} for "
        f"{job.organisation_ref} at {job.submitted_at:%Y-%m-%d %H:%M:%S} UTC, ended at "
        f"{ended:%Y-%m-%d %H:%M:%S} UTC: {status}.",
        "",
        f"Records:                          {c.records}",
        f"Achievements created:             {c.created}",
        f"Achievements updated:             {c.updated}",
        f"Achievements withdrawn:           {c.withdrawn}",
        f"Achievements reinstated:          {c.reinstated}",
        f"Achievements promoted to Final:   {c.promoted}",
        f"Field data errors:                {c.field_errors}",
        f"Learner data errors:              {c.learner_errors}",
        f"Business rule errors:             {c.business_errors}",
        f"Successful records:               {c.successful} ({c.percentage_successful:.2f}%)",
    ]
    if reason:
        lines += ["", reason]
    data, too_large = _error_file_bytes(uow, job.id)
    attachments: tuple[Attachment, ...] = ()
    if data is not None:
        filename = f"achievement-batch-{job.id}-errors.csv"
        attachments = (Attachment(filename, "text/csv", data),)
        lines += ["", f"The failed records are listed in the attached {filename}."]
    elif too_large:
        lines += [
            "",
            f"The error file is too large to attach: read it with GetAchievementBatchJob (JobId {job.id}).",
        ]
    lines += ["", "This message was sent automatically by the LRS achievement web service."]
    return OutgoingMail(
        recipient=job.email,
        subject=f"Achievement batch job {job.id}: {status}",
        body="\n".join(lines) + "\n",
        attachments=attachments,
    )
