"""An operator submits an achievement batch file with `lrs-ws batch submit`, follows it, and reads its status
with `lrs-ws batch status`; a `lrs-ws worker` process does the work. Real executables, both backends."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from support.batch import (
    UPDATE,
    achievement,
    count,
    fresh_database,
    start_worker,
    worker_env,
    write_batch_file,
)
from support.dbstate import db_state

LRS_WS = Path(sys.executable).with_name("lrs-ws")
JAMES, AMIRA = "8659377485", "1234567899"


@pytest.fixture(scope="module")
def database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, dispose = fresh_database(backend, tmp_path_factory.mktemp(f"cli-{backend}"))
    yield url
    dispose()


@pytest.fixture(scope="module")
def worker(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    process = start_worker(database, tmp_path_factory.mktemp("worker") / "worker.log",
                           LRS_WS_WORKER_POLL_SECONDS="0.1")
    yield process
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def lrs_ws(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LRS_WS), *args], env=worker_env(url), capture_output=True, text=True, timeout=300
    )


def fields(stdout: str) -> dict[str, str]:
    """The `Name: value` lines of a job printout."""
    out = {}
    for line in stdout.splitlines():
        name, sep, value = line.partition(":")
        if sep and name and " " not in name:
            out[name] = value.strip()
    return out


def test_a_batch_file_is_submitted_followed_to_the_end_and_its_status_lists_the_error_rows(
    database, worker, tmp_path
):
    path = write_batch_file(tmp_path / "july.csv", [
        achievement(JAMES, "H/500/0001", mis="C1"),
        achievement(AMIRA, "H/500/0002", mis="C2"),
        achievement(JAMES, "H/500/0001", UPDATE, mis="C1", grade="Merit"),
        achievement("1234567890", "H/500/0003", mis="C3"),
        achievement(AMIRA, "H/500/0004", mis="C4", given="Amirah"),
    ])
    done = lrs_ws(database, "batch", "submit", str(path), "--org", "DEMO01", "--user", "demo1.edc",
                  "--poll", "0.1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reading" in done.stderr and "100%" in done.stderr  # the progress bars
    job = fields(done.stdout)
    assert (job["Status"], job["Filename"], job["NumberOfRecords"]) == ("Successful", "july.csv", "5")
    assert (job["AchievementsCreated"], job["AchievementsUpdated"]) == ("2", "1")
    assert (job["FieldDataErrors"], job["LearnerDataErrors"], job["BusinessRuleErrors"]) == ("1", "1", "0")

    status = lrs_ws(database, "batch", "status", job["Job"])
    assert status.returncode == 0, status.stderr
    assert fields(status.stdout)["PercentageSuccessfulRecords"] == "60.00"
    table = status.stdout[status.stdout.index('"Line",'):]
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(r["Line"], r["Uln"], r["ErrorCode"]) for r in rows] == [
        ("5", "1234567890", "WSEC0136"), ("6", AMIRA, "WSEC0111")
    ]


def test_a_file_larger_than_the_request_maximum_becomes_one_job(database, worker, tmp_path):
    rows = [achievement(AMIRA, f"J/500/{i:04d}", mis=f"L{i}") for i in range(60)]
    path = write_batch_file(tmp_path / "big.csv", rows)
    env = worker_env(database, LRS_WS_MAX_BATCH_ACHIEVEMENTS="10")
    done = subprocess.run(
        [str(LRS_WS), "batch", "submit", str(path), "--org", "DEMO01", "--user", "demo1.edc", "--type",
         "provisional", "--poll", "0.1"], env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    job = fields(done.stdout)
    assert (job["NumberOfRecords"], job["SuccessfulProvisionalAchievements"], job["Type"]) == (
        "60", "60", "Provisional"
    )


def test_a_file_with_a_wrong_header_or_for_a_stranger_is_refused_and_creates_no_job(database, tmp_path):
    engine = create_engine(database)
    try:
        jobs = count(engine, "SELECT count(*) FROM batch_jobs")
        bad = tmp_path / "bad.csv"
        bad.write_text("Uln,Grade\n8659377485,Pass\n")
        refused = lrs_ws(database, "batch", "submit", str(bad), "--org", "DEMO01", "--user", "demo1.edc")
        assert refused.returncode == 2 and "header row must name the 15 Achievement fields" in refused.stderr
        good = write_batch_file(tmp_path / "good.csv", [achievement(JAMES, "K/500/0001")])
        stranger = lrs_ws(database, "batch", "submit", str(good), "--org", "DEMO02", "--user", "demo1.edc")
        assert stranger.returncode == 2
        unknown = lrs_ws(database, "batch", "status", "999999")
        assert unknown.returncode == 2 and "999999" in unknown.stderr
        assert count(engine, "SELECT count(*) FROM batch_jobs") == jobs
    finally:
        engine.dispose()


def test_a_batch_file_row_holding_a_character_that_cannot_be_stored_is_a_field_error_of_that_row(
    database, worker, tmp_path
):
    path = write_batch_file(tmp_path / "controls.csv", [
        achievement(JAMES, "V/500/0001", mis="V1"),
        achievement(JAMES, "V/500/0002", mis="V\x0b2"),
        achievement(JAMES, "V/500/0003", mis="V3", grade="Pass\uffff"),
    ])
    done = lrs_ws(database, "batch", "submit", str(path), "--org", "DEMO01", "--user", "demo1.edc",
                  "--poll", "0.1")
    assert done.returncode == 0, done.stderr[-2000:]
    job = fields(done.stdout)
    assert (job["Status"], job["AchievementsCreated"], job["FieldDataErrors"]) == ("Successful", "1", "2")
    status = lrs_ws(database, "batch", "status", job["Job"])
    rows = list(csv.DictReader(io.StringIO(status.stdout[status.stdout.index('"Line",'):])))
    assert [(r["Line"], r["MisIdentifier"], r["ErrorCode"]) for r in rows] == [
        ("3", "V 2", "WSEC0103"), ("4", "V3", "WSEC0103")
    ]
    assert "U+000B" in rows[0]["ErrorMessage"] and "U+FFFF" in rows[1]["ErrorMessage"]
    engine = create_engine(database)
    try:
        stored = "SELECT count(*) FROM achievements WHERE reference IN ('V/500/0002', 'V/500/0003')"
        assert count(engine, stored) == 0
    finally:
        engine.dispose()


def test_a_batch_file_with_an_email_that_is_not_one_plain_address_is_refused_and_creates_no_job(
    database, tmp_path
):
    path = write_batch_file(tmp_path / "list.csv", [achievement(JAMES, "V/500/0009", mis="V9")])
    engine = create_engine(database)
    try:
        before = db_state(engine, ("batch_jobs", "batch_records", "achievements", "audit_events"))
        done = lrs_ws(database, "batch", "submit", str(path), "--org", "DEMO01", "--user", "demo1.edc",
                      "--email", "a;b@demo1.example", "--no-wait")
        assert done.returncode == 2
        assert "exactly one plain address" in done.stderr and "Traceback" not in done.stderr
        assert db_state(engine, ("batch_jobs", "batch_records", "achievements", "audit_events")) == before
    finally:
        engine.dispose()
