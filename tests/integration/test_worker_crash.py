"""Crash safety: a `lrs-ws worker` process killed with SIGKILL in the middle of a large job leaves nothing
half done; the next worker takes the job up when the lease runs out, and every record is applied exactly
once. Several workers on one database share the queue without ever processing one job twice."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from support.batch import (
    achievement,
    count,
    start_worker,
    unit_reference,
    wait_until,
)
from support.databases import DEMO, build_database, remove_database
from support.demo import DEMO1_USER, LEARNER_NAMES, ORG1

from lrs_ws.app import Wiring, wire
from lrs_ws.config import Settings
from lrs_ws.domain import batch as b
from lrs_ws.service import batch, batch_queries
from lrs_ws.service.auth import Caller
from lrs_ws.service.records import AchievementRecord

RECORDS = 3000
CHUNK = "40"


def _caller(w: Wiring) -> Caller:
    with w.uow_factory() as uow:
        user = uow.users.by_username(DEMO1_USER)
        assert user is not None and user.id is not None
        return Caller(user.id, user.username, user.organisation_id, ORG1, user.role_set, user.email)


def _job(w: Wiring, job_id: int) -> b.BatchJob:
    return batch_queries.job_status(w.uow_factory(), job_id=job_id)


def test_a_worker_killed_mid_job_leaves_every_record_applied_exactly_once_after_another_takes_over(
    backend: str, tmp_path: Path, record_property: Any
) -> None:
    url = build_database(backend, tmp_path, DEMO)
    w = wire(Settings(database_url=url))
    try:
        ulns = sorted(LEARNER_NAMES)
        rows = [achievement(ulns[i % len(ulns)], unit_reference(i), mis=f"K{i}") for i in range(RECORDS)]
        job_id = batch.submit(
            w.uow_factory(),
            caller=_caller(w),
            email="mi@demo1.example",
            submission_type="Final",
            achievements=[AchievementRecord(**r) for r in rows],
            max_achievements=RECORDS,
            max_queued_records=100_000,
        )
        settings = {
            "LRS_WS_WORKER_CHUNK_SIZE": CHUNK,
            "LRS_WS_STALE_JOB_SECONDS": "2",
            "LRS_WS_WORKER_POLL_SECONDS": "0.1",
        }

        first = start_worker(url, tmp_path / "worker-1.log", **settings)
        wait_until(lambda: _job(w, job_id).counts.done >= RECORDS // 6, timeout=120, interval=0.02)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)

        at_crash = _job(w, job_id)
        assert at_crash.status == b.IN_PROGRESS, "the job finished before the worker could be killed"
        assert 0 < at_crash.counts.done < RECORDS
        record_property("records_done_when_killed", at_crash.counts.done)
        # What was committed is whole: every processed record has its achievement and its audit event.
        audit_sql = "SELECT count(*) FROM audit_events WHERE request_id = :r"
        applied_sql = "SELECT count(*) FROM batch_records WHERE job_id = :j AND state = 'applied'"
        made = count(w.engine, "SELECT count(*) FROM achievements WHERE mis_identifier LIKE 'K%'")
        assert made == count(w.engine, applied_sql, j=job_id) == at_crash.counts.done
        assert count(w.engine, audit_sql, r=f"batch-job-{job_id}") == at_crash.counts.done

        second = start_worker(url, tmp_path / "worker-2.log", **settings)
        try:
            done = wait_until(lambda: (j := _job(w, job_id)).finished and j, timeout=180, interval=0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0

        assert done.status == b.SUCCESSFUL
        assert done.attempts == 1  # taken over once, from the killed worker
        c = done.counts
        assert (c.records, c.done, c.created, c.successful_final) == (RECORDS, RECORDS, RECORDS, RECORDS)
        assert c.failed == 0 and c.percentage_successful == 100.0
        assert count(w.engine, "SELECT count(*) FROM achievements WHERE mis_identifier LIKE 'K%'") == RECORDS
        assert (
            count(
                w.engine,
                "SELECT count(DISTINCT mis_identifier) FROM achievements WHERE mis_identifier LIKE 'K%'",
            )
            == RECORDS
        )
        assert count(w.engine, audit_sql, r=f"batch-job-{job_id}") == RECORDS
        assert (
            count(
                w.engine,
                "SELECT count(DISTINCT achievement_id) FROM batch_records WHERE job_id = :j",
                j=job_id,
            )
            == RECORDS
        )
        assert count(w.engine, applied_sql, j=job_id) == RECORDS
    finally:
        w.engine.dispose()
        remove_database(backend, url)


def test_several_workers_on_one_database_never_process_the_same_job_twice(
    backend: str, tmp_path: Path
) -> None:
    url = build_database(backend, tmp_path, DEMO)
    w = wire(Settings(database_url=url))
    try:
        ulns = sorted(LEARNER_NAMES)
        jobs = []
        for j in range(6):
            rows = [
                achievement(ulns[i % len(ulns)], unit_reference(j * 1000 + i), mis=f"J{j}-{i}")
                for i in range(150)
            ]
            jobs.append(
                batch.submit(
                    w.uow_factory(),
                    caller=_caller(w),
                    email="mi@demo1.example",
                    submission_type="Final",
                    achievements=[AchievementRecord(**r) for r in rows],
                    max_achievements=5000,
                    max_queued_records=100_000,
                )
            )
        settings = {"LRS_WS_WORKER_CHUNK_SIZE": "25", "LRS_WS_WORKER_POLL_SECONDS": "0.1"}
        workers = [start_worker(url, tmp_path / f"worker-{i}.log", "--once", **settings) for i in range(3)]
        for p in workers:
            assert p.wait(120) == 0
        wait_until(lambda: all(_job(w, j).finished for j in jobs), timeout=120)
        for j in jobs:
            job = _job(w, j)
            assert (job.status, job.attempts) == (b.SUCCESSFUL, 0)
            assert (job.counts.created, job.counts.done) == (150, 150)
            assert (
                count(w.engine, "SELECT count(*) FROM audit_events WHERE request_id = :r", r=f"batch-job-{j}")
                == 150
            )
        assert count(w.engine, "SELECT count(*) FROM achievements WHERE mis_identifier LIKE 'J%'") == 900
        assert (
            count(
                w.engine,
                "SELECT count(DISTINCT mis_identifier) FROM achievements WHERE mis_identifier LIKE 'J%'",
            )
            == 900
        )
    finally:
        w.engine.dispose()
        remove_database(backend, url)
