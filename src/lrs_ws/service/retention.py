"""Retention: what is kept, and for how long, once a batch job has finished or an e-mail has gone.

A finished job keeps its row (status, counts, dates, reason) for ever; its stored records, its record
outcomes and so its error file are deleted `retain_batch_days` after it ended. An e-mail that was sent or
given up is deleted, with its attachments, `retain_mail_days` later. The purge works a page of jobs or
messages per transaction, so it never holds locks for long; `lrs-ws purge` runs it, and every worker asks
once an hour whether today's run is still to be done (the database lets exactly one of them do it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.records import Purged

log = logging.getLogger("lrs_ws.retention")

PURGE_TASK = "purge"
PURGE_EVERY = timedelta(days=1)
PAGE = 200
# Bounds each loop: a million pages is far beyond any real store, never reached.
MAX_PAGES = 1_000_000


@dataclass
class PurgeReport:
    jobs: int = 0
    job_rows: int = 0
    messages: int = 0
    attachments: int = 0

    def __str__(self) -> str:
        return (
            f"the stored records and outcomes of {self.jobs} finished batch jobs ({self.job_rows} rows), "
            f"{self.messages} sent or given-up e-mails ({self.attachments} attachments)"
        )


def _pages(
    uow_factory: Callable[[], AbstractUnitOfWork], purge_page: Callable[[AbstractUnitOfWork, int], Purged]
) -> tuple[int, int]:
    items = rows = 0
    after = 0
    for _ in range(MAX_PAGES):
        with uow_factory() as uow:
            page = purge_page(uow, after)
            uow.commit()
        if page.last_id is None:
            break
        after = page.last_id
        items += page.items
        rows += page.rows
    return items, rows


def purge(
    uow_factory: Callable[[], AbstractUnitOfWork],
    *,
    batch_days: int,
    mail_days: int,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeReport:
    """Delete (with `dry_run`, count) what is older than the retention periods."""
    now = now or utcnow()
    jobs_before = now - timedelta(days=batch_days)
    mail_before = now - timedelta(days=mail_days)
    jobs, job_rows = _pages(
        uow_factory,
        lambda uow, after: uow.batch_chunks.purge_finished(jobs_before, now, after, PAGE, dry_run),
    )
    messages, attachments = _pages(
        uow_factory, lambda uow, after: uow.outbox.purge_done(mail_before, after, PAGE, dry_run)
    )
    return PurgeReport(jobs, job_rows, messages, attachments)


def purge_if_due(
    uow_factory: Callable[[], AbstractUnitOfWork], *, batch_days: int, mail_days: int
) -> PurgeReport | None:
    """Run the purge when no worker has run it for a day; None when it was not this caller's turn."""
    now = utcnow()
    with uow_factory() as uow:
        mine = uow.batch_queue.claim_run(PURGE_TASK, now, now - PURGE_EVERY)
        uow.commit()
    if not mine:
        return None
    report = purge(uow_factory, batch_days=batch_days, mail_days=mail_days, now=now)
    log.info("retention purge done", extra={"detail": str(report)})
    return report
