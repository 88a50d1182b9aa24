"""Gauges read from the database at scrape time: batch queue depth, outbox backlog, database reachability.

Read at scrape time (not counted by the workers) so that every process — gunicorn workers, `lrs-ws worker`
processes on other machines — contributes to one truth. Each query is on its own connection and may fail on
its own (a database not yet migrated to the batch or outbox tables) without hiding the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, and_, func, inspect, select, text

from lrs_ws.db.tables_batch import batch_jobs
from lrs_ws.db.tables_mail import outbox_messages
from lrs_ws.domain.clock import utcnow

log = logging.getLogger("lrs_ws.metrics")

QUEUED_STATUSES = ("Waiting", "InProgress")


class DatabaseGauges:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("lrs_ws_database_up", "1 when the database answered this scrape, else 0.")
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                tables = set(inspect(conn).get_table_names())
        except Exception as exc:
            log.warning("metrics: database not reachable", extra={"error": type(exc).__name__})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        if batch_jobs.name in tables:
            yield from self._batch_queue()
        if outbox_messages.name in tables:
            yield from self._outbox()

    def _batch_queue(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "lrs_ws_batch_queue_depth",
            "Batch jobs not finished yet, by status (Waiting, InProgress).",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            "lrs_ws_batch_oldest_waiting_seconds", "Age of the oldest Waiting batch job (0 when none waits)."
        )
        try:
            with self.engine.connect() as conn:
                counts: dict[str, int] = dict(
                    conn.execute(
                        select(batch_jobs.c.status, func.count())
                        .where(batch_jobs.c.status.in_(QUEUED_STATUSES))
                        .group_by(batch_jobs.c.status)
                    ).all()
                )
                first = conn.scalar(
                    select(func.min(batch_jobs.c.submitted_at)).where(batch_jobs.c.status == "Waiting")
                )
        except Exception as exc:
            log.warning("metrics: batch queue not readable", extra={"error": type(exc).__name__})
            return
        for status in QUEUED_STATUSES:
            depth.add_metric([status], int(counts.get(status, 0)))
        oldest.add_metric([], max((utcnow() - first).total_seconds(), 0.0) if first is not None else 0.0)
        yield depth
        yield oldest

    def _outbox(self) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "lrs_ws_outbox_backlog", "E-mails queued and not sent yet (given-up ones excluded)."
        )
        given_up = GaugeMetricFamily("lrs_ws_outbox_given_up", "E-mails given up after permanent refusals.")
        unsent = outbox_messages.c.sent_at.is_(None)
        try:
            with self.engine.connect() as conn:
                pending = conn.scalar(
                    select(func.count())
                    .select_from(outbox_messages)
                    .where(and_(unsent, outbox_messages.c.given_up_at.is_(None)))
                )
                abandoned = conn.scalar(
                    select(func.count())
                    .select_from(outbox_messages)
                    .where(and_(unsent, outbox_messages.c.given_up_at.is_not(None)))
                )
        except Exception as exc:
            log.warning("metrics: outbox not readable", extra={"error": type(exc).__name__})
            return
        backlog.add_metric([], int(pending or 0))
        given_up.add_metric([], int(abandoned or 0))
        yield backlog
        yield given_up
