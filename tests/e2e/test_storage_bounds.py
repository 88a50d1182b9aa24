"""Storage has bounds: an organisation may keep only so many records waiting in the batch queue (WSEC0112,
over SOAP and from `lrs-ws batch submit`, nothing stored), and `lrs-ws purge` deletes finished jobs' stored
records and error files, and sent e-mails, once they are older than the retention; job counts stay."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support.batch import achievement, count, worker_env, write_batch_file
from support.databases import DEMO, build_database, remove_database
from support.dbstate import db_state
from support.demo import AMIRA, DEMO1_USER, JAMES, ORG1, OWEN
from support.server import LiveServer
from support.soap import DEMO1, DEMO2, client_for, expect_fault

from lrs_ws.app import wire
from lrs_ws.config import Settings
from lrs_ws.domain.clock import utcnow
from lrs_ws.jobs.worker import BatchWorker
from lrs_ws.service import batch, batch_queries, retention
from lrs_ws.service.auth import Caller
from lrs_ws.service.records import AchievementRecord

LRS_WS = Path(sys.executable).with_name("lrs-ws")
BATCH_TABLES = ("batch_jobs", "batch_payloads", "batch_records")
STORED = (*BATCH_TABLES, "outbox_messages", "outbox_attachments")


@pytest.fixture
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    url = build_database(backend, tmp_path, DEMO)
    yield url
    remove_database(backend, url)


def lrs_ws(url: str, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LRS_WS), *args], env=worker_env(url, **settings), capture_output=True, text=True, timeout=300
    )


# -- the queue limit ----------------------------------------------------------------------------------------


def test_a_batch_that_would_put_too_many_records_in_the_queue_is_refused_and_stores_nothing(
    database: str, tmp_path: Path
) -> None:
    server = LiveServer(
        database, tmp_path / "server.log", extra_env={"LRS_WS_MAX_QUEUED_RECORDS_PER_ORG": "3"}
    ).start()
    try:
        lrs = client_for(server.soap_url)
        first = lrs.SubmitAchievementBatchJob(
            invokingUser=DEMO1,
            emailAddress="mi@demo1.example",
            submissionType="Final",
            achievements={
                "Achievement": [achievement(JAMES, "Q/500/0001"), achievement(AMIRA, "Q/500/0002")]
            },
        )
        assert first.ResponseCode == "WSRC0000"
        before = db_state(database, STORED)

        fault = expect_fault(
            "WSEC0112",
            lrs.SubmitAchievementBatchJob,
            invokingUser=DEMO1,
            emailAddress="mi@demo1.example",
            submissionType="Final",
            achievements={"Achievement": [achievement(OWEN, "Q/500/0003"), achievement(OWEN, "Q/500/0004")]},
        )
        assert "Too many records waiting" in fault.message and "at most 3" in fault.message
        path = write_batch_file(tmp_path / "more.csv", [achievement(OWEN, "Q/500/0005")] * 2)
        refused = lrs_ws(
            database,
            "batch",
            "submit",
            str(path),
            "--org",
            "DEMO01",
            "--user",
            "demo1.edc",
            "--no-wait",
            LRS_WS_MAX_QUEUED_RECORDS_PER_ORG="3",
        )
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines()[-1].startswith("lrs-ws: Too many records waiting")
        assert db_state(database, STORED) == before

        # One more record still fits; another organisation's queue is its own.
        one = lrs.SubmitAchievementBatchJob(
            invokingUser=DEMO1,
            emailAddress="mi@demo1.example",
            submissionType="Final",
            achievements={"Achievement": [achievement(OWEN, "Q/500/0006")]},
        )
        assert one.ResponseCode == "WSRC0000"
        other = lrs.SubmitAchievementBatchJob(
            invokingUser=DEMO2,
            emailAddress="mi@demo2.example",
            submissionType="Final",
            achievements={"Achievement": [achievement(JAMES, "Q/500/0007")] * 3},
        )
        assert other.ResponseCode == "WSRC0000"
    finally:
        server.stop()


# -- retention ---------------------------------------------------------------------------------------------


def _finished_job_with_failures(url: str) -> int:
    """A DEMO01 job with two applied and two refused records, processed, its e-mail queued and sent."""
    w = wire(Settings(database_url=url))
    try:
        with w.uow_factory() as uow:
            user = uow.users.by_username(DEMO1_USER)
            org = uow.organisations.by_ref(ORG1)
            assert user is not None and org is not None
        rows = [
            achievement(JAMES, "R/500/0001"),
            achievement("1234567890", "R/500/0002"),
            achievement(AMIRA, "R/500/0003"),
            achievement(OWEN, "R/500/0004", given="Nobody"),
        ]
        job_id = batch.submit(
            w.uow_factory(),
            caller=Caller.of(user, org, "test"),
            email="mi@demo1.example",
            submission_type="Final",
            achievements=[AchievementRecord(**r) for r in rows],
            max_achievements=10,
            max_queued_records=100,
        )
        BatchWorker(w, threading.Event()).run(once=True)
        with w.engine.begin() as conn:  # delivered, as the mailer would record it
            conn.execute(text("UPDATE outbox_messages SET sent_at = :t"), {"t": utcnow()})
        return job_id
    finally:
        w.engine.dispose()


def test_purge_deletes_finished_jobs_records_and_sent_mail_past_the_retention_and_keeps_the_counts(
    database: str,
) -> None:
    job_id = _finished_job_with_failures(database)
    engine = create_engine(database)
    w = wire(Settings(database_url=database))
    try:
        with w.uow_factory() as uow:
            user = uow.users.by_username("demo1.edc")
            org = uow.organisations.by_ref("DEMO01")
            assert user is not None and org is not None
        caller = Caller.of(user, org, "test")
        before = batch_queries.get_job(w.uow_factory(), caller=caller, job_id=job_id)
        assert before.error_file is not None and before.error_file.count("\n") == 3
        assert count(engine, "SELECT count(*) FROM batch_payloads") == 0  # deleted when the job ended
        assert count(engine, "SELECT count(*) FROM batch_records") == 4
        assert count(engine, "SELECT count(*) FROM outbox_attachments") == 1

        # Within the retention (the defaults, 90 and 30 days) nothing goes.
        kept = lrs_ws(database, "purge")
        assert kept.returncode == 0, kept.stderr
        assert "0 finished batch jobs" in kept.stdout and "0 sent or given-up e-mails" in kept.stdout
        unchanged = db_state(database, STORED)

        now = {"LRS_WS_RETAIN_BATCH_DAYS": "0", "LRS_WS_RETAIN_MAIL_DAYS": "0"}
        dry = lrs_ws(database, "purge", "--dry-run", **now)
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.startswith(
            "purge would delete: the stored records and outcomes of 1 finished batch jobs (4 rows), "
            "1 sent or given-up e-mails (1 attachments)"
        )
        assert db_state(database, STORED) == unchanged

        done = lrs_ws(database, "purge", **now)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("purge deleted: the stored records and outcomes of 1 finished batch")
        for table in ("batch_payloads", "batch_records", "outbox_messages", "outbox_attachments"):
            assert count(engine, f"SELECT count(*) FROM {table}") == 0, table

        after = batch_queries.get_job(w.uow_factory(), caller=caller, job_id=job_id)
        assert after.error_file is None
        assert after.job.counts == before.job.counts
        assert (after.job.status, after.job.ended_at) == (before.job.status, before.job.ended_at)
        again = lrs_ws(database, "purge", **now)
        assert "0 finished batch jobs" in again.stdout
    finally:
        engine.dispose()
        w.engine.dispose()


def test_workers_run_the_purge_once_a_day_between_them(database: str) -> None:
    job_id = _finished_job_with_failures(database)  # its worker took today's run, before the job ended
    engine = create_engine(database)
    w = wire(Settings(database_url=database).with_(retain_batch_days=0, retain_mail_days=0))

    def a_day_ago() -> None:
        with engine.begin() as conn:
            yesterday = utcnow() - timedelta(days=1)
            conn.execute(text("UPDATE maintenance_runs SET last_run_at = :t"), {"t": yesterday})

    try:
        assert count(engine, "SELECT count(*) FROM batch_records WHERE job_id = :j", j=job_id) == 4
        BatchWorker(w, threading.Event()).run(once=True)
        assert count(engine, "SELECT count(*) FROM batch_records") == 4  # not due: purged today already

        a_day_ago()
        reports = [retention.purge_if_due(w.uow_factory, batch_days=0, mail_days=0) for _ in range(3)]
        assert [r is not None for r in reports] == [True, False, False]
        assert reports[0] is not None and (reports[0].jobs, reports[0].job_rows) == (1, 4)
        assert count(engine, "SELECT count(*) FROM batch_records") == 0

        # A worker's loop runs it when it is due.
        job_id = _finished_job_with_failures(database)
        a_day_ago()
        BatchWorker(w, threading.Event()).run(once=True)
        assert count(engine, "SELECT count(*) FROM batch_records WHERE job_id = :j", j=job_id) == 0
        assert count(engine, "SELECT count(*) FROM batch_jobs WHERE purged_at IS NOT NULL") == 2
    finally:
        engine.dispose()
        w.engine.dispose()
