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
    start_worker,
    worker_env,
    write_batch_file,
)
from support.databases import DEMO, build_database, remove_database
from support.dbstate import db_state
from support.demo import AMIRA, JAMES

LRS_WS = Path(sys.executable).with_name("lrs-ws")


@pytest.fixture(scope="module")
def database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = build_database(backend, tmp_path_factory.mktemp(f"cli-{backend}"), DEMO)
    yield url
    remove_database(backend, url)


@pytest.fixture(scope="module")
def worker(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    process = start_worker(
        database, tmp_path_factory.mktemp("worker") / "worker.log", LRS_WS_WORKER_POLL_SECONDS="0.1"
    )
    yield process
    process.send_signal(signal.SIGTERM)
    process.wait(30)


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
    path = write_batch_file(
        tmp_path / "july.csv",
        [
            achievement(JAMES, "H/500/0001", mis="C1"),
            achievement(AMIRA, "H/500/0002", mis="C2"),
            achievement(JAMES, "H/500/0001", UPDATE, mis="C1", grade="Merit"),
            achievement("1234567890", "H/500/0003", mis="C3"),
            achievement(AMIRA, "H/500/0004", mis="C4", given="Amirah"),
        ],
    )
    done = lrs_ws(
        database, "batch", "submit", str(path), "--org", "DEMO01", "--user", "demo1.edc", "--poll", "0.1"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reading" in done.stderr and "100%" in done.stderr  # the progress bars
    job = fields(done.stdout)
    assert (job["Status"], job["Filename"], job["NumberOfRecords"]) == ("Successful", "july.csv", "5")
    assert (job["AchievementsCreated"], job["AchievementsUpdated"]) == ("2", "1")
    assert (job["FieldDataErrors"], job["LearnerDataErrors"], job["BusinessRuleErrors"]) == ("1", "1", "0")

    status = lrs_ws(database, "batch", "status", job["Job"])
    assert status.returncode == 0, status.stderr
    assert fields(status.stdout)["PercentageSuccessfulRecords"] == "60.00"
    table = status.stdout[status.stdout.index('"Line",') :]
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(r["Line"], r["Uln"], r["ErrorCode"]) for r in rows] == [
        ("5", "1234567890", "WSEC0136"),
        ("6", AMIRA, "WSEC0111"),
    ]


def test_a_file_larger_than_the_request_maximum_becomes_one_job(database, worker, tmp_path):
    rows = [achievement(AMIRA, f"J/500/{i:04d}", mis=f"L{i}") for i in range(60)]
    path = write_batch_file(tmp_path / "big.csv", rows)
    env = worker_env(database, LRS_WS_MAX_BATCH_ACHIEVEMENTS="10")
    done = subprocess.run(
        [
            str(LRS_WS),
            "batch",
            "submit",
            str(path),
            "--org",
            "DEMO01",
            "--user",
            "demo1.edc",
            "--type",
            "provisional",
            "--poll",
            "0.1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    job = fields(done.stdout)
    assert (job["NumberOfRecords"], job["SuccessfulProvisionalAchievements"], job["Type"]) == (
        "60",
        "60",
        "Provisional",
    )


def test_a_file_with_a_wrong_header_or_for_a_stranger_is_refused_and_creates_no_job(database, tmp_path):
    engine = create_engine(database)
    try:
        jobs = count(engine, "SELECT count(*) FROM batch_jobs")
        bad = tmp_path / "bad.csv"
        bad.write_text(f"Uln,Grade\n{JAMES},Pass\n")
        refused = lrs_ws(database, "batch", "submit", str(bad), "--org", "DEMO01", "--user", "demo1.edc")
        assert refused.returncode == 2 and "header row must name the 15 Achievement fields" in refused.stderr
        good = write_batch_file(tmp_path / "good.csv", [achievement(JAMES, "K/500/0001")])
        stranger = lrs_ws(database, "batch", "submit", str(good), "--org", "DEMO02", "--user", "demo1.edc")
        assert stranger.returncode == 2
        assert stranger.stderr.splitlines() == ["lrs-ws: No user demo1.edc in organisation DEMO02."]
        nowhere = lrs_ws(database, "batch", "submit", str(good), "--org", "DEMO99", "--user", "demo1.edc")
        assert nowhere.stderr.splitlines() == ["lrs-ws: No organisation DEMO99."]
        unknown = lrs_ws(database, "batch", "status", "999999")
        assert unknown.returncode == 2 and unknown.stderr.splitlines() == ["lrs-ws: No batch job 999999."]
        assert count(engine, "SELECT count(*) FROM batch_jobs") == jobs
    finally:
        engine.dispose()


def test_a_batch_file_row_holding_a_character_that_cannot_be_stored_is_a_field_error_of_that_row(
    database, worker, tmp_path
):
    path = write_batch_file(
        tmp_path / "controls.csv",
        [
            achievement(JAMES, "V/500/0001", mis="V1"),
            achievement(JAMES, "V/500/0002", mis="V\x0b2"),
            achievement(JAMES, "V/500/0003", mis="V3", grade="Pass\uffff"),
        ],
    )
    done = lrs_ws(
        database, "batch", "submit", str(path), "--org", "DEMO01", "--user", "demo1.edc", "--poll", "0.1"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    job = fields(done.stdout)
    assert (job["Status"], job["AchievementsCreated"], job["FieldDataErrors"]) == ("Successful", "1", "2")
    status = lrs_ws(database, "batch", "status", job["Job"])
    rows = list(csv.DictReader(io.StringIO(status.stdout[status.stdout.index('"Line",') :])))
    assert [(r["Line"], r["MisIdentifier"], r["ErrorCode"]) for r in rows] == [
        ("3", "V 2", "WSEC0103"),
        ("4", "V3", "WSEC0103"),
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
        done = lrs_ws(
            database,
            "batch",
            "submit",
            str(path),
            "--org",
            "DEMO01",
            "--user",
            "demo1.edc",
            "--email",
            "a;b@demo1.example",
            "--no-wait",
        )
        assert done.returncode == 2
        assert "exactly one plain address" in done.stderr and "Traceback" not in done.stderr
        assert db_state(engine, ("batch_jobs", "batch_records", "achievements", "audit_events")) == before
    finally:
        engine.dispose()


def stderr_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr's lines, progress-bar redraws (carriage returns) split off."""
    return [part.strip() for line in done.stderr.splitlines() for part in line.split("\r") if part.strip()]


def test_with_no_worker_running_batch_submit_says_so_and_exits_3_leaving_the_job_queued(backend, tmp_path):
    url = build_database(backend, tmp_path, DEMO)
    engine = create_engine(url)
    try:
        path = write_batch_file(tmp_path / "early.csv", [achievement(JAMES, "K/500/0099")])
        done = lrs_ws(
            url,
            "batch",
            "submit",
            str(path),
            "--org",
            "DEMO01",
            "--user",
            "demo1.edc",
            "--worker-wait",
            "1",
            "--poll",
            "0.1",
        )
        assert done.returncode == 3, done.stderr[-2000:]
        job_id = count(engine, "SELECT max(id) FROM batch_jobs")
        assert (
            f"lrs-ws: no worker has picked up job {job_id} in 1 s; start one with `lrs-ws worker` "
            f"(job {job_id} stays queued)"
        ) in stderr_lines(done)
        assert count(engine, "SELECT count(*) FROM batch_jobs WHERE status = 'Waiting'") == 1

        worker = lrs_ws(url, "worker", "--once")
        assert worker.returncode == 0, worker.stderr[-2000:]
        assert count(engine, "SELECT count(*) FROM batch_jobs WHERE status = 'Successful'") == 1
    finally:
        engine.dispose()
        remove_database(backend, url)


def test_fail_on_errors_exits_1_and_the_end_shows_the_first_errors_and_the_full_error_file_command(
    database, worker, tmp_path
):
    records = [achievement(JAMES, "M/500/0001", mis="E0")]
    records += [achievement("1234567890", f"M/500/00{i:02d}", mis=f"E{i}") for i in range(2, 9)]
    path = write_batch_file(tmp_path / "errors.csv", records)
    args = ("batch", "submit", str(path), "--org", "DEMO01", "--user", "demo1.edc", "--poll", "0.1")
    done = lrs_ws(database, *args)
    assert done.returncode == 0, done.stderr[-2000:]  # Successful: one record was applied
    job_id = fields(done.stdout)["Job"]
    shown = list(csv.DictReader(io.StringIO(done.stdout[done.stdout.index('"Line",') :])))
    assert [r["MisIdentifier"] for r in shown] == ["E2", "E3", "E4", "E5", "E6"]
    assert (
        "7 record(s) failed; the first 5 are shown. "
        f"The full error file: lrs-ws batch errors {job_id} --out FILE"
    ) in stderr_lines(done)

    again = write_batch_file(
        tmp_path / "errors2.csv", [achievement("1234567890", "M/500/0010"), achievement(JAMES, "M/500/0011")]
    )
    strict = lrs_ws(
        database,
        "batch",
        "submit",
        str(again),
        "--org",
        "DEMO01",
        "--user",
        "demo1.edc",
        "--poll",
        "0.1",
        "--fail-on-errors",
    )
    assert strict.returncode == 1, strict.stderr[-2000:]
    assert fields(strict.stdout)["Status"] == "Successful"

    out = tmp_path / "errors-out.csv"
    written = lrs_ws(database, "batch", "errors", job_id, "--out", str(out))
    assert written.returncode == 0, written.stderr
    to_stdout = lrs_ws(database, "batch", "errors", job_id, "--out", "-")
    assert out.read_text(encoding="utf-8") == to_stdout.stdout
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.service import batch_codec

    w = wire(Settings(database_url=database))
    try:
        with w.uow_factory() as uow:
            soap_file = batch_codec.error_file(uow.batch_chunks.failed_records(int(job_id)))
    finally:
        w.engine.dispose()
    assert soap_file is not None and out.read_bytes() == soap_file.encode("utf-8")
    assert [r["MisIdentifier"] for r in csv.DictReader(io.StringIO(soap_file or ""))] == [
        f"E{i}" for i in range(2, 9)
    ]


def test_batch_errors_of_an_unknown_job_is_one_line_and_writes_no_file(database, tmp_path):
    out = tmp_path / "none.csv"
    done = lrs_ws(database, "batch", "errors", "999999", "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["lrs-ws: No batch job 999999."]
    assert not out.exists() and not (tmp_path / "none.csv.partial").exists()
