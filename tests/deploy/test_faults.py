"""The faults the reference deployment survives, counted: what clients were told against what the database
holds (achievements, their audit events, batch job counters). Each test prints its counts."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from deploy.load import (
    OK,
    TRANSPORT,
    HalfSentRequest,
    Readers,
    SlowClients,
    Writers,
    applied,
    job_row,
    record,
    submit_job,
    tally,
    told_by_service,
    wait_finished,
    wait_for,
    worker_holding,
)
from deploy.topology import Topology

pytestmark = pytest.mark.deploy

JOB_RECORDS = 3000
SLOW_CLIENTS = 300
# The slow connections trickle for 30 s (not 60): long enough for three rounds of nginx's 10 s header
# timeout, short enough for CI.
SLOW_SECONDS = 30
OUTAGE_SECONDS = 15
# During an outage the workers keep their job: with a lease this long, a job that went on after the outage
# went on with the worker that held it, not one that took it over.
# Small chunks, so that the job is still in progress when the outage begins.
OUTAGE_WORKERS = {"LRS_WS_STALE_JOB_SECONDS": "300", "LRS_WS_WORKER_CHUNK_SIZE": "50"}
OUTAGE_JOB_RECORDS = 5000


def report(record_property: Any, name: str, counts: dict[str, Any]) -> None:
    print(f"\n{name}: {counts}")
    for key, value in counts.items():
        record_property(f"{name}: {key}", value)


def test_an_app_server_killed_under_writes_loses_nothing_and_applies_nothing_twice(
    certificates_registered: Topology, record_property: Any
) -> None:
    t = certificates_registered
    writers = Writers(t, "F2").start()
    try:
        wait_for(lambda: writers.count(OK) >= 60, 120, "60 answered writes")
        t.signal_app(0, signal.SIGKILL)
        answered_before_kill = writers.count(OK)
        wait_for(lambda: writers.count(OK) >= answered_before_kill + 100, 120, "100 writes after the kill")
    finally:
        told = writers.finish()
    t.restart_app(0)
    counts = tally(told, applied(t, "F2"))
    report(record_property, "SIGKILL app server", counts)
    assert counts["told OK"] >= 160
    assert counts["told OK, applied once"] == counts["told OK"]
    assert counts["told fault"] == 0
    assert counts["told fault, applied"] == 0
    # A POST that reached the killed server is not re-sent to the other one: its client gets 502 and the
    # change was applied if the server had committed it before dying, never twice. How many get a 502 depends
    # on how many requests were in flight, or reached the dying server's queue, as it died (reported above).
    assert counts["applied twice or more"] == 0
    assert counts["audit events != achievements"] == 0
    assert counts["applied, never asked"] == 0


def test_a_worker_killed_mid_job_is_replaced_by_the_other_and_every_record_is_applied_once(
    certificates_registered: Topology, record_property: Any
) -> None:
    t = certificates_registered
    job_id = submit_job(t, "F3", JOB_RECORDS)
    holder = worker_holding(t, job_id)
    wait_for(lambda: job_row(t, job_id).records_done >= JOB_RECORDS // 4, 120, "a quarter of the job")
    t.workers[holder].send_signal(signal.SIGKILL)
    done_at_kill = job_row(t, job_id).records_done
    row = wait_finished(t, job_id)
    told = told_by_service(t, job_id)
    t.restart_worker(holder)
    found = applied(t, "F3")
    counts = {
        "records": JOB_RECORDS,
        "done when killed": done_at_kill,
        "status": row.status,
        "told created": told.AchievementsCreated,
        "job counter created": row.created,
        "applied": len(found),
        "applied twice or more": sum(1 for n, _ in found.values() if n > 1),
        "audit events": sum(ev for _, ev in found.values()),
        "takeovers": row.attempts,
    }
    report(record_property, "SIGKILL worker", counts)
    assert row.status == "Successful" and told.Status == "Successful"
    assert 0 < done_at_kill < JOB_RECORDS
    assert told.AchievementsCreated == row.created == len(found) == JOB_RECORDS
    assert counts["applied twice or more"] == 0
    assert counts["audit events"] == JOB_RECORDS
    assert row.attempts == 1


def test_a_rolling_restart_by_sigterm_finishes_requests_in_flight_and_hands_the_job_on(
    certificates_registered: Topology, record_property: Any
) -> None:
    t = certificates_registered
    writers = Writers(t, "F6").start()
    try:
        wait_for(lambda: writers.count(OK) >= 60, 120, "60 answered writes")
        job_id = submit_job(t, "F6B", 5000)
        holder = worker_holding(t, job_id)
        other = 1 - holder
        wait_for(lambda: job_row(t, job_id).records_done >= 500, 120, "500 records of the job", interval=0.02)
        stopping = t.workers[holder]
        stopping.send_signal(signal.SIGTERM)
        done_at_term = job_row(t, job_id).records_done
        t.drain(1)
        # A request app server 2 is reading when SIGTERM comes (half its body sent): it must still finish.
        in_flight = HalfSentRequest(t, 1, record("F6-in-flight"))
        t.signal_app(1, signal.SIGTERM)
        in_flight_status, in_flight_body = in_flight.finish()
        exit_code = stopping.wait(timeout=60)
        other_pid = t.workers[other].pid
        wait_for(
            lambda: f":{other_pid}:" in str(job_row(t, job_id).worker_id or ""),
            30,
            "the other worker to take the job",
        )
        answered = writers.count(OK)
        wait_for(lambda: writers.count(OK) >= answered + 60, 120, "60 writes after the SIGTERM")
    finally:
        told = writers.finish()
    row = wait_finished(t, job_id)
    app_exit = t.apps[1].process.wait(timeout=60) if t.apps[1].process else None
    t.restart_app(1)
    t.drain(None)
    worker_log = (t.root / f"worker-{holder + 1}.log").read_text()
    t.restart_worker(holder)
    stopped_after = int(re.findall(r"(\d+) records processed", worker_log)[-1])
    told["F6-in-flight"] = OK if in_flight_status == 200 else TRANSPORT
    counts = tally(told, applied(t, "F6"))
    found = applied(t, "F6B")
    counts.update(
        {
            "app server exit code": app_exit,
            "worker exit code": exit_code,
            "job done at SIGTERM": done_at_term,
            "records the stopped worker applied": stopped_after,
            "job status": row.status,
            "job applied": len(found),
            "job takeovers": row.attempts,
        }
    )
    report(record_property, "SIGTERM app server and worker", counts)
    assert exit_code == 0 and app_exit == 0
    assert in_flight_status == 200 and b"AchievementId" in in_flight_body
    # It finished the chunk in hand (250 records) and stopped: its count is whole chunks, the job unfinished.
    assert stopped_after % 250 == 0 and done_at_term <= stopped_after < 5000
    assert "batch job released" in worker_log
    assert row.status == "Successful" and len(found) == 5000
    assert row.attempts == 0  # handed on, not taken over after a lease ran out
    assert counts["told OK, applied once"] == counts["told OK"]
    assert counts["told fault"] == counts[TRANSPORT] == 0
    assert counts["applied twice or more"] == counts["audit events != achievements"] == 0


def test_slow_clients_through_nginx_do_not_slow_normal_calls_or_the_batch_worker(
    certificates_registered: Topology, record_property: Any
) -> None:
    t = certificates_registered
    first = submit_job(t, "F1A", 5000)
    baseline = Readers(t).start()
    time.sleep(10)
    base_p50, base_calls, base_failures = baseline.finish()

    second = submit_job(t, "F1B", 5000)
    slow = SlowClients(t, SLOW_CLIENTS, SLOW_SECONDS).start()
    disturbed = Readers(t).start()
    slow.join()
    p50, calls, failures = disturbed.finish()
    rows = [wait_finished(t, job) for job in (first, second)]
    counts = {
        "undisturbed p50 ms": round(base_p50 * 1000, 1),
        "undisturbed calls": base_calls,
        "with slow clients p50 ms": round(p50 * 1000, 1),
        "with slow clients calls": calls,
        "ratio": round(p50 / base_p50, 2),
        "failed normal calls": len(base_failures) + len(failures),
        "slow connections opened": slow.opened,
        "slow connections reopened": slow.reopened,
        "jobs": [r.status for r in rows],
        "job records applied": [r.created for r in rows],
    }
    report(record_property, "slow clients", counts)
    assert slow.opened >= SLOW_CLIENTS
    assert not base_failures and not failures
    assert p50 <= 2 * base_p50
    assert [r.status for r in rows] == ["Successful", "Successful"]
    assert [r.created for r in rows] == [5000, 5000]


def _records_done(direct: Engine, job_id: int) -> int:
    with direct.connect() as conn:
        done = conn.execute(text("SELECT records_done FROM batch_jobs WHERE id = :id"), {"id": job_id})
        return int(done.one()[0])


def _outage(
    t: Topology, prefix: str, stop: Callable[[], None], start: Callable[[], None], seconds: float
) -> dict[str, Any]:
    """Writers and a batch job running while `stop` ... `start` takes a component away for `seconds`; what
    clients were told and what the database holds afterwards."""
    for index in range(len(t.workers)):
        t.restart_worker(index, **OUTAGE_WORKERS)
    direct = t.direct_engine()
    try:
        # Refused calls come back at once: enough calls for every writer to go on through the outage.
        writers = Writers(t, prefix, max_calls=20000).start()
        try:
            wait_for(lambda: writers.count(OK) >= 30, 120, "30 answered writes")
            job_id = submit_job(t, f"{prefix}B", OUTAGE_JOB_RECORDS)
            holder = worker_holding(t, job_id)
            wait_for(lambda: _records_done(direct, job_id) > 0, 120, "the job's first chunk", interval=0.02)
            stop()
            stopped_at = time.monotonic()
            time.sleep(seconds)
            try:
                done_at_return: int | None = _records_done(direct, job_id)
            except OperationalError:
                done_at_return = None  # PostgreSQL itself is down: read as soon as it is back
            start()
            back_at = time.monotonic()
            if done_at_return is None:
                done_at_return = _records_done(direct, job_id)
            wait_for(
                lambda: _records_done(direct, job_id) > done_at_return,
                60,
                "the job's next chunk",
                interval=0.05,
            )
            progress_after = time.monotonic() - back_at
            answered = writers.count(OK)
            wait_for(lambda: writers.count(OK) >= answered + 30, 60, "30 writes after the return")
        finally:
            told = writers.finish()
        row = wait_finished(t, job_id)
        worker_log = (t.root / f"worker-{holder + 1}.log").read_text()
    finally:
        direct.dispose()
        for index in range(len(t.workers)):
            t.restart_worker(index)
    # Calls sent once the service answered OK again (the first OK answered after the return).
    first_ok_after = min(
        (at for mis, at in writers.answered.items() if at > back_at and told[mis] == OK), default=back_at
    )
    after = [told[mis] for mis, at in writers.began.items() if at > first_ok_after]
    found = applied(t, f"{prefix}B")
    counts = tally(told, applied(t, prefix))
    codes = list(writers.fault_codes.values())
    counts.update(
        {
            "told WSEC0004": codes.count("WSEC0004"),
            "told another fault": len(codes) - codes.count("WSEC0004"),
            "other fault codes": sorted({c for c in codes if c != "WSEC0004"}),
            "app server errors": sorted(
                {
                    line.split('"error": ')[-1][:160]
                    for app in t.apps
                    for line in app.log_text().splitlines()
                    if '"level": "ERROR"' in line and '"error": ' in line
                }
            ),
            "told during the outage": sum(1 for at in writers.answered.values() if stopped_at < at < back_at),
            "calls after service resumed": len(after),
            "of them not OK": sum(1 for o in after if o != OK),
            "job done at return": done_at_return,
            "job next progress s after return": round(progress_after, 1),
            "job status": row.status,
            "job applied": len(found),
            "job applied twice or more": sum(1 for n, _ in found.values() if n > 1),
            "job audit events": sum(ev for _, ev in found.values()),
            "job takeovers": row.attempts,
            "worker kept its job": "batch worker keeps its job" in worker_log,
        }
    )
    return counts


def _assert_survived(counts: dict[str, Any]) -> None:
    assert counts["told OK"] >= 60
    assert counts["told OK, applied once"] == counts["told OK"]
    # The outage was seen, and every call it refused was told to try again, with nothing changed.
    assert counts["told WSEC0004"] > 0 and counts["told another fault"] == 0
    assert counts["told fault"] == counts["told WSEC0004"]
    assert counts["told fault, applied"] == 0
    assert counts[TRANSPORT] == 0
    assert counts["applied twice or more"] == counts["audit events != achievements"] == 0
    assert counts["applied, never asked"] == 0
    assert counts["calls after service resumed"] > 0 and counts["of them not OK"] == 0
    assert counts["job done at return"] < OUTAGE_JOB_RECORDS
    assert counts["job status"] == "Successful"
    assert counts["job applied"] == counts["job audit events"] == OUTAGE_JOB_RECORDS
    assert counts["job applied twice or more"] == 0
    assert counts["job takeovers"] == 0 and counts["worker kept its job"]


def test_pgbouncer_stopped_and_started_again_refuses_calls_with_wsec0004_and_the_job_goes_on(
    certificates_registered: Topology, record_property: Any
) -> None:
    t = certificates_registered
    counts = _outage(t, "F5", t.stop_pgbouncer, t.start_pgbouncer, OUTAGE_SECONDS)
    report(record_property, "PgBouncer stopped and started again", counts)
    _assert_survived(counts)


def test_postgresql_stopped_for_20_s_behind_pgbouncer_refuses_calls_with_wsec0004_and_the_job_goes_on(
    certificates_registered: Topology, record_property: Any
) -> None:
    t = certificates_registered
    counts = _outage(t, "F4", t.stop_postgres, t.start_postgres, 20)
    report(record_property, "PostgreSQL stopped and started again behind PgBouncer", counts)
    _assert_survived(counts)
