"""Planned maintenance, switched with the real `lrs-ws maintenance` command against a live gunicorn and an
`lrs-ws worker`: every operation is refused with WSEC0004 naming the expected end, nothing changes, the health
JSON reports it, batch jobs wait and go on afterwards, and everything works again after `off`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text
from support.batch import (
    count,
    submit_creates,
    wait_until,
)
from support.databases import DEMO, build_database, remove_database
from support.dbstate import EDC_TABLES, db_state
from support.demo import AMIRA, JAMES, TEST_LEARNER
from support.records import achievement_record
from support.server import LiveServer
from support.soap import DEMO1, client_for, fault_code, fault_message
from zeep.exceptions import Fault

from lrs_ws.app import Wiring, wire
from lrs_ws.config import Settings
from lrs_ws.domain import batch as b
from lrs_ws.service import batch_queries

UNTIL = "2099-01-01T17:30:00Z"
MESSAGE = "Database upgrade to the new register."
RECORDS = 4000


@pytest.fixture
def site(backend: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Wiring]]:
    url = build_database(backend, tmp_path, DEMO)
    w = wire(Settings(database_url=url))
    server = LiveServer(
        url,
        tmp_path / "server.log",
        batch_worker=True,
        extra_env={
            "LRS_WS_WORKER_CHUNK_SIZE": "5",
            "LRS_WS_WORKER_POLL_SECONDS": "0.1",
            "LRS_WS_STALE_JOB_SECONDS": "300",
        },
    ).start()
    try:
        yield server, w
    finally:
        lrs_ws(server, "maintenance", "off")
        server.stop()
        w.engine.dispose()
        remove_database(backend, url)


def lrs_ws(server: LiveServer, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env["LRS_WS_DATABASE_URL"] = server.database_url
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lrs-ws")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _find(soap: Any) -> Any:
    return soap.GetLearnerAchievements(
        invokingUser=DEMO1, uln=TEST_LEARNER, sortBy="AwardDate", sortDescending=True
    )


def _refusal(soap: Any) -> Fault | None:
    try:
        _find(soap)
    except Fault as fault:
        return fault
    return None


def _answered(soap: Any) -> bool:
    return _refusal(soap) is None


def test_during_maintenance_every_operation_is_refused_with_its_end_time_and_nothing_changes(
    site: tuple[LiveServer, Wiring],
) -> None:
    server, w = site
    soap = client_for(server.soap_url)
    assert _find(soap).TotalCount == 3
    assert requests.get(f"{server.base_url}/readyz", timeout=10).json()["maintenance"] is None

    shown = lrs_ws(server, "maintenance", "on", "--until", "2099-01-01T18:30+01:00", "--message", MESSAGE)
    assert UNTIL in shown
    fault = wait_until(lambda: _refusal(soap), timeout=15)  # every process sees it within a second or two
    before = db_state(w.engine, EDC_TABLES)

    for call in (
        lambda: _find(soap),
        lambda: soap.CreateAchievement(
            invokingUser=DEMO1,
            submissionType="Final",
            achievement=achievement_record(AMIRA, mis="MAINT1"),
        ),
        lambda: soap.FindLearnerByUln(invokingUser=DEMO1, uln=JAMES),
        # Wrong credentials get the same answer: nothing is checked while the service is closed.
        lambda: soap.GetLearnerAchievements(
            invokingUser={**DEMO1, "OrgPassword": "wrong"},
            uln=TEST_LEARNER,
            sortBy="AwardDate",
            sortDescending=True,
        ),
    ):
        with pytest.raises(Fault) as refused:
            call()
        assert fault_code(refused.value) == "WSEC0004"
        detail = fault_message(refused.value)
        assert f"expected to end at {UNTIL}" in detail and MESSAGE in detail
        assert "nothing was changed" in detail
    assert fault_code(fault) == "WSEC0004"
    assert db_state(w.engine, EDC_TABLES) == before

    health = requests.get(f"{server.base_url}/readyz", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "maintenance"
    window = health.json()["maintenance"]
    assert window["until"] == UNTIL and window["message"] == MESSAGE
    assert "maintenance on" in lrs_ws(server, "maintenance", "status")
    # The WSDL is still served: clients can be built during maintenance.
    assert requests.get(f"{server.soap_url}?wsdl", timeout=10).status_code == 200

    assert "maintenance off" in lrs_ws(server, "maintenance", "off")
    wait_until(lambda: _answered(soap), timeout=15)
    made = soap.CreateAchievement(
        invokingUser=DEMO1, submissionType="Final", achievement=achievement_record(AMIRA, mis="MAINT2")
    )
    assert made.AchievementId
    assert lrs_ws(server, "maintenance", "status").strip() == "maintenance off"
    assert requests.get(f"{server.base_url}/readyz", timeout=10).json()["maintenance"] is None

    with w.engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT operation, username, after FROM audit_events WHERE operation LIKE 'Maintenance%' "
                "ORDER BY id"
            )
        ).all()
    assert [e.operation for e in events] == ["MaintenanceOn", "MaintenanceOff"]
    assert json.loads(events[0].after) == {
        "since": json.loads(events[0].after)["since"],
        "until": UNTIL,
        "message": MESSAGE,
    }
    assert all(e.username for e in events)


def test_maintenance_refuses_a_past_end_time_and_changes_nothing(site: tuple[LiveServer, Wiring]) -> None:
    server, _ = site
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env["LRS_WS_DATABASE_URL"] = server.database_url
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lrs-ws")), "maintenance", "on", "--until", "2001-01-01T00:00Z"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "must be in the future" in done.stderr
    assert lrs_ws(server, "maintenance", "status").strip() == "maintenance off"


def _submit(w: Wiring) -> int:
    return submit_creates(w, RECORDS, "M")


def test_a_job_running_when_maintenance_begins_waits_and_completes_after_it(
    site: tuple[LiveServer, Wiring],
) -> None:
    server, w = site
    job_id = _submit(w)
    status = lambda: batch_queries.job_status(w.uow_factory(), job_id=job_id)  # noqa: E731
    wait_until(lambda: status().counts.done >= 50, timeout=120, interval=0.02)
    lrs_ws(server, "maintenance", "on", "--message", MESSAGE)

    waiting = wait_until(lambda: (j := status()).status == b.WAITING and j, timeout=30, interval=0.05)
    assert 0 < waiting.counts.done < RECORDS, "the job finished before maintenance began"
    held = waiting.counts.done
    time.sleep(2)  # several of the worker's polls
    still = status()
    assert still.status == b.WAITING and still.counts.done == held  # it waits, it does not fail

    lrs_ws(server, "maintenance", "off")
    job = wait_until(lambda: (j := status()).finished and j, timeout=120, interval=0.1)
    assert job.status == b.SUCCESSFUL and job.attempts == 0, job.rejection_reason
    assert job.counts.done == job.counts.successful == RECORDS
    assert count(w.engine, "SELECT count(*) FROM achievements WHERE mis_identifier LIKE 'M%'") == RECORDS
