"""`lrs-ws serve` runs gunicorn and a batch worker process side by side: idle connections cannot stall it,
killing request-serving processes never touches a batch job, and a worker process that dies is replaced and
its job goes on at once.

Every job here runs with a 300 s lease and is waited for at most 120 s: a job that had to wait for its lease
to run out would fail the wait.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zeep
from support.batch import (
    count,
    submit_creates,
    wait_until,
)
from support.databases import DEMO, build_database, remove_database
from support.demo import TEST_LEARNER
from support.server import ServeProcess, child_pids
from support.soap import DEMO1
from zeep.transports import Transport

from lrs_ws.app import Wiring, wire
from lrs_ws.config import Settings
from lrs_ws.domain import batch as b
from lrs_ws.service import batch_queries

RECORDS = 2000
JOB_ENV = {
    "LRS_WS_WORKER_CHUNK_SIZE": "10",
    "LRS_WS_STALE_JOB_SECONDS": "300",
    "LRS_WS_WORKER_POLL_SECONDS": "0.1",
}
JOB_WAIT = 120.0


def _client(serve: ServeProcess, answer_within: float = 10) -> Any:
    # A call that is not answered within `answer_within` seconds counts as not answered.
    transport = Transport(timeout=answer_within, operation_timeout=answer_within)
    client = zeep.Client(f"{serve.soap_url}?wsdl", transport=transport)
    return client.create_service(next(iter(client.wsdl.bindings)), serve.soap_url)


def _achievements_of_test_learner(service: Any) -> int:
    found = service.GetLearnerAchievements(
        invokingUser=DEMO1, uln=TEST_LEARNER, sortBy="AwardDate", sortDescending=True
    )
    return int(found.TotalCount)


def _submit(w: Wiring) -> int:
    return submit_creates(w, RECORDS, "S")


def _job(w: Wiring, job_id: int) -> b.BatchJob:
    return batch_queries.job_status(w.uow_factory(), job_id=job_id)


@pytest.fixture
def database(backend: str, tmp_path: Path) -> Iterator[tuple[str, Wiring]]:
    url = build_database(backend, tmp_path, DEMO)
    w = wire(Settings(database_url=url))
    yield url, w
    w.engine.dispose()
    remove_database(backend, url)


def _started(url: str, tmp_path: Path) -> ServeProcess:
    return ServeProcess(url, tmp_path / "serve.log", extra_env=JOB_ENV).start()


def _wait_for_progress(w: Wiring, job_id: int) -> None:
    wait_until(lambda: _job(w, job_id).counts.done >= RECORDS // 10, timeout=JOB_WAIT, interval=0.02)
    assert _job(w, job_id).status == b.IN_PROGRESS, "the job finished before the test could interfere"


def _assert_applied_once(w: Wiring, job: b.BatchJob) -> None:
    assert job.status == b.SUCCESSFUL, job.rejection_reason
    assert job.counts.done == job.counts.successful == RECORDS
    assert count(w.engine, "SELECT count(*) FROM achievements WHERE mis_identifier LIKE 'S%'") == RECORDS
    audit = "SELECT count(*) FROM audit_events WHERE request_id = :r"
    assert count(w.engine, audit, r=f"batch-job-{job.id}") == RECORDS


def test_idle_connections_do_not_stop_lrs_ws_serve_answering_a_client(tmp_path: Path) -> None:
    url = build_database("sqlite", tmp_path, DEMO)
    serve = ServeProcess(url, tmp_path / "serve.log").start()
    try:
        # Sync workers held by idle connections left a normal call unanswered until gunicorn killed them
        # (30 s); a call here takes tens of milliseconds, so 4 s bounds being served at all, not speed.
        service = _client(serve, answer_within=4)
        assert _achievements_of_test_learner(service) == 3
        idle = [socket.create_connection(("127.0.0.1", serve.port)) for _ in range(10)]
        try:
            answered = [_achievements_of_test_learner(service) for _ in range(5)]
            time.sleep(6)  # past the moment the server parks connections that sent nothing
            answered += [_achievements_of_test_learner(service) for _ in range(5)]
        finally:
            for sock in idle:
                sock.close()
        assert answered == [3] * 10
        assert "WORKER TIMEOUT" not in serve.log_path.read_text(errors="replace")
        assert serve.terminate() == 0
    finally:
        serve.kill()
        remove_database("sqlite", url)


def test_killing_every_request_serving_process_during_a_batch_job_neither_strands_nor_fails_it(
    database: tuple[str, Wiring], tmp_path: Path
) -> None:
    url, w = database
    job_id = _submit(w)
    serve = _started(url, tmp_path)
    try:
        _wait_for_progress(w, job_id)
        master = serve.gunicorn_master()
        for pid in child_pids(master):
            os.kill(pid, signal.SIGKILL)
        job = wait_until(lambda: (j := _job(w, job_id)).finished and j, timeout=JOB_WAIT, interval=0.1)
        _assert_applied_once(w, job)
        assert job.attempts == 0  # never taken over
        # gunicorn replaced its processes: clients are answered again.
        assert wait_until(lambda: _answers(serve), timeout=30)
    finally:
        serve.kill()


def _answers(serve: ServeProcess) -> bool:
    try:
        # The job gave Test Learner more achievements; the three demo ones are still there.
        return _achievements_of_test_learner(_client(serve)) >= 3
    except Exception:
        return False


def test_a_killed_batch_worker_process_is_restarted_and_its_job_goes_on_at_once(
    database: tuple[str, Wiring], tmp_path: Path
) -> None:
    url, w = database
    job_id = _submit(w)
    serve = _started(url, tmp_path)
    try:
        _wait_for_progress(w, job_id)
        first = serve.batch_worker()
        assert first is not None
        os.kill(first, signal.SIGKILL)
        job = wait_until(lambda: (j := _job(w, job_id)).finished and j, timeout=JOB_WAIT, interval=0.1)
        _assert_applied_once(w, job)
        assert job.attempts == 1  # a worker that vanished counts once toward failing the job
        second = wait_until(serve.batch_worker, timeout=30)
        assert second != first
        assert serve.terminate() == 0
        assert serve.batch_worker() is None
    finally:
        serve.kill()


def test_stopping_lrs_ws_serve_mid_job_gives_the_job_back_without_counting_it_against_the_job(
    database: tuple[str, Wiring], tmp_path: Path
) -> None:
    url, w = database
    job_id = _submit(w)
    serve = _started(url, tmp_path)
    try:
        _wait_for_progress(w, job_id)
        assert serve.terminate() == 0
    finally:
        serve.kill()
    stopped = _job(w, job_id)
    assert stopped.status == b.WAITING and stopped.attempts == 0
    assert 0 < stopped.counts.done < RECORDS

    again = _started(url, tmp_path)
    try:
        job = wait_until(lambda: (j := _job(w, job_id)).finished and j, timeout=JOB_WAIT, interval=0.1)
        _assert_applied_once(w, job)
        assert job.attempts == 0
    finally:
        again.kill()
