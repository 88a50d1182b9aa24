"""PostgreSQL stopped for 20 s and started again under load and during a batch job.

On a PostgreSQL cluster of the test's own (stopped with `pg_ctl stop -m fast`, started again on the same
port and data directory), with a live gunicorn and an `lrs-ws worker`: every single-record call during the
outage is answered with WSEC0004 and changed nothing, every call answered OK was applied exactly once,
service resumes without restarting anything, and the batch job goes on within seconds of the restart (its
lease is 300 s; the wait for it is bounded well below that).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zeep
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from support.batch import count, submit_creates, unit_reference, wait_until
from support.databases import DEMO, build_database
from support.demo import AMIRA
from support.pg import private_cluster
from support.records import achievement_record
from support.server import LiveServer
from support.soap import DEMO1, fault_code
from zeep.exceptions import Fault
from zeep.transports import Transport

from lrs_ws.app import Wiring, wire
from lrs_ws.config import Settings
from lrs_ws.db.engine import make_engine, make_session_factory
from lrs_ws.db.uow import SqlAlchemyUnitOfWork
from lrs_ws.domain import batch as b
from lrs_ws.domain.errors import ServiceUnavailable
from lrs_ws.service import batch_queries

OUTAGE_SECONDS = 20
RECORDS = 3000
LEASE = 300
CLIENTS = 2


@pytest.fixture
def cluster() -> Iterator[Any]:
    pg = private_cluster()
    if pg is None:
        pytest.skip("no local PostgreSQL binaries to stop and start")
    yield pg
    pg.close()


def _database(cluster: Any) -> str:
    return build_database("postgresql", None, DEMO, admin_url=cluster.url)


@dataclass
class CreatingClient:
    """One client creating achievements in a loop; what it was told, by MisIdentifier."""

    soap: Any
    prefix: str
    ok: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)
    after_restart: list[str] = field(default_factory=list)  # outcomes of calls begun after the restart
    n: int = 0

    def run(self, stop: threading.Event, restarted: threading.Event, base: int) -> None:
        while not stop.is_set():
            self.n += 1
            mis = f"{self.prefix}{self.n}"
            began_after_restart = restarted.is_set()
            record = achievement_record(AMIRA, reference=unit_reference(base + self.n), mis=mis)
            try:
                self.soap.CreateAchievement(invokingUser=DEMO1, submissionType="Final", achievement=record)
                outcome = "ok"
                self.ok.add(mis)
            except Fault as fault:
                outcome = fault_code(fault)
                self.refused[mis] = outcome
            except Exception as exc:
                outcome = type(exc).__name__
                self.unanswered.append(mis)
            if began_after_restart:
                self.after_restart.append(outcome)
            stop.wait(0.05)


def _client(server: LiveServer) -> Any:
    client = zeep.Client(f"{server.soap_url}?wsdl", transport=Transport(timeout=60, operation_timeout=60))
    return client.create_service(next(iter(client.wsdl.bindings)), server.soap_url)


def _submit(w: Wiring) -> int:
    return submit_creates(w, RECORDS, "B")


def test_postgresql_stopped_for_20_s_refuses_calls_with_wsec0004_and_the_batch_job_goes_on_at_once(
    cluster: Any, tmp_path: Path, record_property: Any
) -> None:
    url = _database(cluster)
    w = wire(Settings(database_url=url))
    # Reads for the test itself: a new connection each time, so the outage leaves nothing stale here.
    probe = create_engine(url, poolclass=NullPool)
    job_id = _submit(w)
    server = LiveServer(
        url,
        tmp_path / "server.log",
        batch_worker=True,
        extra_env={
            "LRS_WS_WORKER_CHUNK_SIZE": "20",
            "LRS_WS_STALE_JOB_SECONDS": str(LEASE),
            "LRS_WS_WORKER_POLL_SECONDS": "0.2",
        },
    ).start()
    stop, restarted = threading.Event(), threading.Event()
    callers = [CreatingClient(_client(server), f"O{i}-") for i in range(CLIENTS)]
    threads = [
        threading.Thread(target=c.run, args=(stop, restarted, 60000 + 10000 * i))
        for i, c in enumerate(callers)
    ]
    try:
        done = lambda: count(probe, "SELECT records_done FROM batch_jobs WHERE id = :j", j=job_id)  # noqa: E731
        wait_until(lambda: done() >= RECORDS // 10, timeout=120, interval=0.05)
        for t in threads:
            t.start()
        time.sleep(1)

        cluster.stop_fast()
        time.sleep(OUTAGE_SECONDS)
        cluster.start_again()
        back_at = time.monotonic()
        restarted.set()
        at_restart = done()
        assert at_restart < RECORDS, "the job finished before the outage"

        wait_until(lambda: done() > at_restart, timeout=60, interval=0.05)
        resumed_after = time.monotonic() - back_at
        record_property("job_resumed_seconds_after_restart", round(resumed_after, 1))
        time.sleep(3)  # calls after the restart
        stop.set()
        for t in threads:
            t.join(90)

        job = wait_until(
            lambda: (j := batch_queries.job_status(w.uow_factory(), job_id=job_id)).finished and j,
            timeout=120,
        )
    finally:
        stop.set()
        server.stop()

    told_ok = set().union(*(c.ok for c in callers))
    refused = {mis: code for c in callers for mis, code in c.refused.items()}
    unanswered = [mis for c in callers for mis in c.unanswered]
    with probe.connect() as conn:
        rows = conn.execute(text("SELECT mis_identifier FROM achievements WHERE mis_identifier LIKE 'O%'"))
        applied = {mis for (mis,) in rows}
    audited = count(
        probe,
        "SELECT count(*) FROM audit_events e JOIN achievements a ON a.id = e.achievement_id "
        "WHERE a.mis_identifier LIKE 'O%'",
    )
    figures = {
        "told_ok": len(told_ok),
        "applied": len(applied),
        "told_error": len(refused),
        "applied_anyway": len(applied & set(refused)),
        "unanswered": len(unanswered),
        "job_resumed_seconds": round(resumed_after, 1),
    }
    record_property("outage_counts", figures)
    print(f"\ndatabase outage: {figures}")

    assert set(refused.values()) == {"WSEC0004"}, refused  # never WSEC0199, and the outage was seen
    assert not unanswered
    assert applied == told_ok and audited == len(told_ok)
    for c in callers:  # served again without restarting anything: once a call succeeds, every later one does
        assert "ok" in c.after_restart
        assert set(c.after_restart[c.after_restart.index("ok") :]) == {"ok"}, c.after_restart
    assert job.status == b.SUCCESSFUL and job.attempts == 0, job.rejection_reason
    assert job.counts.done == job.counts.successful == RECORDS
    assert count(probe, "SELECT count(*) FROM achievements WHERE mis_identifier LIKE 'B%'") == RECORDS
    batch_audit = "SELECT count(*) FROM audit_events WHERE request_id = :r"
    assert count(probe, batch_audit, r=f"batch-job-{job_id}") == RECORDS
    assert "batch worker keeps its job" in server.log_text()
    probe.dispose()
    w.engine.dispose()


def test_without_pre_ping_the_first_call_after_a_restart_succeeds_or_is_wsec0004_and_the_next_succeeds(
    cluster: Any,
) -> None:
    url = _database(cluster)
    engine = make_engine(url, pool_pre_ping=False)
    factory = make_session_factory(engine)

    def read() -> int:
        with SqlAlchemyUnitOfWork(factory) as uow:
            user = uow.users.by_username("demo1.edc")
            assert user is not None and user.id is not None
            return user.id

    try:
        user_id = read()  # a pooled connection, cut by the restart
        cluster.stop_fast()
        with pytest.raises(ServiceUnavailable):
            read()
        cluster.start_again()
        try:
            first = read()
        except ServiceUnavailable:
            first = read()  # the pool was invalidated by the first failure: this one connects afresh
        assert first == user_id
        assert read() == user_id
    finally:
        engine.dispose()
