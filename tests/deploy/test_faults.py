"""The faults the reference deployment survives, counted: what clients were told against what the database
holds (achievements, their audit events, batch job counters). Each test prints its counts."""

from __future__ import annotations

import re
import signal
import time
from typing import Any

import pytest

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
        "records": JOB_RECORDS, "done when killed": done_at_kill, "status": row.status,
        "told created": told.AchievementsCreated, "job counter created": row.created,
        "applied": len(found), "applied twice or more": sum(1 for n, _ in found.values() if n > 1),
        "audit events": sum(ev for _, ev in found.values()), "takeovers": row.attempts,
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
        wait_for(lambda: f":{other_pid}:" in str(job_row(t, job_id).worker_id or ""), 30,
                 "the other worker to take the job")
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
    counts.update({
        "app server exit code": app_exit, "worker exit code": exit_code,
        "job done at SIGTERM": done_at_term, "records the stopped worker applied": stopped_after,
        "job status": row.status, "job applied": len(found), "job takeovers": row.attempts,
    })
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
        "undisturbed p50 ms": round(base_p50 * 1000, 1), "undisturbed calls": base_calls,
        "with slow clients p50 ms": round(p50 * 1000, 1), "with slow clients calls": calls,
        "ratio": round(p50 / base_p50, 2), "failed normal calls": len(base_failures) + len(failures),
        "slow connections opened": slow.opened, "slow connections reopened": slow.reopened,
        "jobs": [r.status for r in rows], "job records applied": [r.created for r in rows],
    }
    report(record_property, "slow clients", counts)
    assert slow.opened >= SLOW_CLIENTS
    assert not base_failures and not failures
    assert p50 <= 2 * base_p50
    assert [r.status for r in rows] == ["Successful", "Successful"]
    assert [r.created for r in rows] == [5000, 5000]
