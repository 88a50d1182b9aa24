"""`lrs-ws batch validate`: an operator checks a batch file as `batch submit` would take it, storing nothing.
The real executable, both backends; exit 0 all valid, 1 some records fail (error file written), 2 refused."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from support.batch import UPDATE, WITHDRAW, achievement, worker_env, write_batch_file
from support.databases import DEMO, build_database, remove_database
from support.dbstate import db_state
from support.demo import AMIRA, DEMO2_USER, JAMES, LRS_ORG, ORG1, OWEN

LRS_WS = Path(sys.executable).with_name("lrs-ws")


@pytest.fixture(scope="module")
def database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = build_database(backend, tmp_path_factory.mktemp(f"validate-cli-{backend}"), DEMO)
    yield url
    remove_database(backend, url)


@pytest.fixture(scope="module")
def engine(database: str) -> Iterator[Any]:
    e = create_engine(database)
    yield e
    e.dispose()


def lrs_ws(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LRS_WS), *args], env=worker_env(url), capture_output=True, text=True, timeout=300
    )


def fields(stdout: str) -> dict[str, str]:
    return {
        name: value.strip()
        for name, sep, value in (line.partition(":") for line in stdout.splitlines())
        if sep
    }


def test_a_valid_file_exits_0_with_the_counts_its_job_would_have_and_stores_nothing(
    database, engine, tmp_path
):
    path = write_batch_file(
        tmp_path / "good.csv",
        [
            achievement(JAMES, "K/700/0001", mis="G1"),
            achievement(JAMES, "K/700/0001", UPDATE, mis="G1", grade="Merit"),
            achievement(AMIRA, "K/700/0002", mis="G2"),
        ],
    )
    before = db_state(engine)
    done = lrs_ws(database, "batch", "validate", str(path), "--org", "DEMO01", "--user", "demo1.edc")
    assert done.returncode == 0, done.stderr
    counts = fields(done.stdout)
    assert (counts["NumberOfRecords"], counts["AchievementsCreated"], counts["AchievementsUpdated"]) == (
        "3",
        "2",
        "1",
    )
    assert "all 3 records are valid; nothing was stored" in done.stderr
    assert not (tmp_path / "good.errors.csv").exists()
    assert db_state(engine) == before


def test_a_file_with_failing_records_exits_1_and_writes_the_error_file_with_rule_columns(
    database, engine, tmp_path
):
    path = write_batch_file(
        tmp_path / "mixed.csv",
        [
            achievement(OWEN, "K/700/0003", mis="B1"),
            achievement("1234567890", "K/700/0004", mis="B2"),
            achievement(OWEN, "K/700/0005", WITHDRAW, mis="B3"),
            achievement(AMIRA, "K/700/0006", mis="=cmd|' /C calc'!A0", grade="Distinction with honours"),
        ],
    )
    before = db_state(engine)
    out = tmp_path / "errors.csv"
    done = lrs_ws(database, "batch", "validate", str(path), "--org", "demo01", "--out", str(out))
    assert done.returncode == 1, done.stderr
    assert f"3 of 4 records would fail; error file: {out}; nothing was stored" in done.stderr
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert [(r["Line"], r["ErrorCode"], r["RuleId"], r["Field"], r["Value"]) for r in rows] == [
        ("3", "WSEC0136", "ULN_CHECK_DIGIT", "Uln", "1234567890"),
        ("4", "WSEC0105", "TARGET_NOT_FOUND", "UnitOrQualificationReferenceNumber", "K/700/0005"),
        ("5", "WSEC0101", "GRADE_TOO_LONG", "Grade", "Distinction with honours"),
    ]
    assert rows[2]["MisIdentifier"] == "'=cmd|' /C calc'!A0"  # never a formula in a spreadsheet

    as_json = tmp_path / "errors.json"
    done = lrs_ws(
        database, "batch", "validate", str(path), "--org", "DEMO01", "--format", "json", "--out", str(as_json)
    )
    assert done.returncode == 1, done.stderr
    records = json.loads(as_json.read_text(encoding="utf-8"))
    assert [(r["Line"], r["RuleId"], r["Field"]) for r in records] == [
        (3, "ULN_CHECK_DIGIT", "Uln"),
        (4, "TARGET_NOT_FOUND", "UnitOrQualificationReferenceNumber"),
        (5, "GRADE_TOO_LONG", "Grade"),
    ]
    assert records[2]["MisIdentifier"] == "=cmd|' /C calc'!A0"  # JSON carries the value as submitted
    assert db_state(engine) == before


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        (("--org", ORG1), f"Uln,Grade\n{AMIRA},Pass\n", "The header row must name the 15 Achievement"),
        (("--org", ORG1), "", "The file is empty"),
        (("--org", "NOSUCH"), None, "No organisation NOSUCH."),
        (("--org", LRS_ORG), None, "not configured to submit achievement batches"),
        (("--org", ORG1, "--user", DEMO2_USER), None, f"No user {DEMO2_USER} in organisation {ORG1}."),
        (("--org", ORG1, "--type", "Interim"), None, "The submission type must be Final or Provisional"),
    ],
)
def test_a_file_or_request_that_is_refused_exits_2_with_one_line(
    database, engine, tmp_path, args, content, message
):
    path = tmp_path / "refused.csv"
    if content is None:
        write_batch_file(path, [achievement(JAMES, "K/700/0007")])
    else:
        path.write_text(content, encoding="utf-8")
    before = db_state(engine)
    done = lrs_ws(database, "batch", "validate", str(path), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert db_state(engine) == before


def test_a_missing_file_exits_2_with_one_line(database, tmp_path):
    done = lrs_ws(database, "batch", "validate", str(tmp_path / "nowhere.csv"), "--org", "DEMO01")
    assert done.returncode == 2
    assert done.stderr.strip() == f"lrs-ws: cannot read {tmp_path / 'nowhere.csv'}: No such file or directory"
