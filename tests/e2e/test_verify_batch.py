"""Learner verification batches against a live server with its batch worker, on SQLite and PostgreSQL:
SubmitVerifyBatchJob / GetVerifyBatchJob / ListVerifyBatchJobs over SOAP, and `lrs-ws verify submit` as the
real command with real files. Each refusal shows that no table changed."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.batch import achievement, count, valid_uln, wait_until
from support.databases import DEMO, build_database, remove_database
from support.dbstate import db_state
from support.demo import DEMO2_USER, MASTER_ULN, MERGED_ULN, ORG1, TEST_LEARNER
from support.server import LiveServer
from support.smtp import SmtpServer
from support.soap import DEMO1, DEMO2, LRS, expect_fault, fault_message

NOT_REGISTERED = valid_uln("200000000")
OUTBOX_PENDING = "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL AND given_up_at IS NULL"
UNCHANGED = ("achievements", "event_data_challenges", "learners", "batch_records")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(backend: str, smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = build_database(backend, tmp_path_factory.mktemp(f"verify-db-{backend}"), DEMO)
    live = LiveServer(
        url,
        tmp_path_factory.mktemp("verify-server") / "gunicorn.log",
        batch_worker=True,
        # Chunks of two: a batch is verified over several transactions.
        extra_env={
            "LRS_WS_WORKER_POLL_SECONDS": "0.1",
            "LRS_WS_WORKER_CHUNK_SIZE": "2",
            "LRS_WS_SMTP_URL": smtp.url,
        },
    ).start()
    yield live
    live.stop()
    remove_database(backend, url)


def learner(
    uln: str, given: str, family: str, born: date | None = None, gender: int | None = None
) -> dict[str, Any]:
    return {"Uln": uln, "GivenName": given, "FamilyName": family, "DateOfBirth": born, "Gender": gender}


def finished(lrs: Any, job_id: int, user: dict[str, str] = DEMO1) -> Any:
    def done() -> Any:
        job = lrs.GetVerifyBatchJob(invokingUser=user, jobId=job_id)
        return job if job.Status in ("Successful", "Failed") else None

    return wait_until(done, timeout=90)


def answers(job: Any) -> list[tuple[Any, ...]]:
    return [
        (
            r.Line,
            r.Uln,
            r.ResponseCode,
            list(r.FailureFlags.FailureFlag) if r.FailureFlags else [],
            r.MasterUln,
            r.ErrorCode,
        )
        for r in job.Results.VerifyBatchResult
    ]


BATCH = [
    learner(MASTER_ULN, "Sophie", "Turner", date(2000, 6, 15), 2),
    learner(MASTER_ULN, "Sophie", "Baker"),
    learner(MERGED_ULN, "Sophie", "Turner"),
    learner(MERGED_ULN, "SOPHIE", "baker"),
    learner(TEST_LEARNER, "Test", "Learner", date(2000, 5, 2)),
    learner(NOT_REGISTERED, "Nobody", "Known"),
    learner("1234567890", "Bad", "Checkdigit"),
    learner(TEST_LEARNER, "Test", "Learner", date.today() + timedelta(days=3)),
    learner(TEST_LEARNER, "Test", "Learner", gender=5),
]
EXPECTED = [
    (1, MASTER_ULN, "WSVRC001", [], None, None),
    (2, MASTER_ULN, "WSVRC003", ["VRF5"], None, None),
    (3, MERGED_ULN, "WSVRC002", [], MASTER_ULN, None),
    (4, MERGED_ULN, "WSVRC004", ["VRF5"], MASTER_ULN, None),
    (5, TEST_LEARNER, "WSVRC005", ["VRF7"], None, None),
    (6, NOT_REGISTERED, "WSVRC006", [], None, None),
    (7, "1234567890", None, [], None, "WSEC0136"),
    (8, TEST_LEARNER, None, [], None, "WSEC0102"),
    (9, TEST_LEARNER, None, [], None, "WSEC0103"),
]


def test_a_verification_batch_answers_each_learner_as_verify_learner_would_and_changes_no_record(
    lrs: Any, engine: Any
) -> None:
    before = db_state(engine, UNCHANGED)
    job_id = lrs.SubmitVerifyBatchJob(invokingUser=DEMO1, learners={"LearnerToVerify": BATCH}).JobId
    job = finished(lrs, job_id)
    counts = (job.Status, job.NumberOfRecords, job.LearnersVerified, job.FieldDataErrors)
    assert counts == ("Successful", 9, 6, 3)
    assert answers(job) == EXPECTED
    assert "in the future" in job.Results.VerifyBatchResult[7].ErrorMessage
    for line, single in enumerate(BATCH[:6], 1):
        one = lrs.VerifyLearner(
            invokingUser=DEMO1,
            uln=single["Uln"],
            givenName=single["GivenName"],
            familyName=single["FamilyName"],
            dateOfBirth=single["DateOfBirth"],
            gender=single["Gender"],
        )
        assert one.ResponseCode == EXPECTED[line - 1][2]
    assert db_state(engine, UNCHANGED) == before


def test_a_verification_job_is_its_organisations_own_and_apart_from_achievement_batches(
    lrs: Any, engine: Any
) -> None:
    verify_id = lrs.SubmitVerifyBatchJob(invokingUser=DEMO1, learners={"LearnerToVerify": BATCH[:2]}).JobId
    finished(lrs, verify_id)
    achievement_id = lrs.SubmitAchievementBatchJob(
        invokingUser=DEMO1,
        emailAddress="mi@demo.example",
        submissionType="Final",
        achievements={"Achievement": [achievement(TEST_LEARNER, "J/602/3521", mis="VB1")]},
    ).JobId
    # The achievement job runs and mails its outcome; wait until both are done, so the tables stand still.
    status = lambda: lrs.GetAchievementBatchJob(invokingUser=DEMO1, jobId=achievement_id).Status  # noqa: E731
    wait_until(lambda: status() == "Successful")
    wait_until(lambda: count(engine, OUTBOX_PENDING) == 0, timeout=60)
    before = db_state(engine)
    missing = expect_fault("WSRC0018", lrs.GetVerifyBatchJob, invokingUser=DEMO1, jobId=verify_id + 100_000)
    others = expect_fault("WSRC0018", lrs.GetVerifyBatchJob, invokingUser=DEMO2, jobId=verify_id)
    assert fault_message(others) == fault_message(missing).replace(str(verify_id + 100_000), str(verify_id))
    expect_fault("WSRC0018", lrs.GetVerifyBatchJob, invokingUser=DEMO1, jobId=achievement_id)
    # An id past the id column's range is one no job has (not a database error on PostgreSQL).
    expect_fault("WSRC0018", lrs.GetVerifyBatchJob, invokingUser=DEMO1, jobId=2**31)
    expect_fault("WSRC0018", lrs.GetAchievementBatchJob, invokingUser=DEMO1, jobId=verify_id)
    assert db_state(engine) == before

    listed = lrs.ListVerifyBatchJobs(invokingUser=DEMO1)
    assert verify_id in [j.JobId for j in listed.Jobs.VerifyBatchJob]
    assert achievement_id not in [j.JobId for j in listed.Jobs.VerifyBatchJob]
    assert all(not j.Results for j in listed.Jobs.VerifyBatchJob)
    batches = lrs.ListAchievementBatchJobs(invokingUser=DEMO1)
    assert verify_id not in [j.JobID for j in batches.Jobs.AchievementBatchJobResponse]
    assert lrs.ListVerifyBatchJobs(invokingUser=DEMO2).TotalCount == 0


@pytest.mark.parametrize(
    ("code", "user", "learners", "says"),
    [
        ("WSEC0122", DEMO1, [], "At least one learner is required."),
        (
            "WSEC0121",
            DEMO1,
            [learner(TEST_LEARNER, "Test", "Learner")] * 5001,
            "at most 5000 learners; it held 5001",
        ),
        ("WSEC0006", LRS, [learner(TEST_LEARNER, "Test", "Learner")], "Insufficient access"),
    ],
    ids=["no learners", "more than 5000", "LRS support"],
)
def test_a_refused_verification_batch_stores_no_job(
    lrs: Any, engine: Any, code: str, user: dict[str, str], learners: list[dict[str, Any]], says: str
) -> None:
    before = db_state(engine)
    fault = expect_fault(
        code, lrs.SubmitVerifyBatchJob, invokingUser=user, learners={"LearnerToVerify": learners}
    )
    assert says in fault_message(fault)
    assert db_state(engine) == before


# -- lrs-ws verify submit ---------------------------------------------------------------------------------


def run_cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env["LRS_WS_DATABASE_URL"] = server.database_url
    return subprocess.run(
        [str(Path(sys.executable).with_name("lrs-ws")), "verify", "submit", *args, "--poll", "0.1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


FILE = (
    "uln,givenname,familyname,dateofbirth,gender\n"
    f"{MASTER_ULN},Sophie,Turner,2000-06-15,2\n"
    f"{MERGED_ULN},Sophie,Baker,,\n"
    "\n"
    f'{TEST_LEARNER},=HYPERLINK("x"),Learner,,\n'
    f"{TEST_LEARNER},Test,Learner,15/06/2000,\n"
)


def test_verify_submit_follows_the_job_with_a_progress_bar_and_writes_a_spreadsheet_safe_results_file(
    server: LiveServer, tmp_path: Path
) -> None:
    source = tmp_path / "learners.csv"
    source.write_text(FILE, encoding="utf-8")
    done = run_cli(server, str(source), "--org", "DEMO01")
    assert done.returncode == 0, done.stderr
    assert "verification job" in done.stderr and "submitted as demo1.edc: 4 learners" in done.stderr
    assert "reading" in done.stderr and "learner" in done.stderr  # the progress bars
    assert "Successful: 4 of 4 learners" in done.stdout
    assert "WSVRC001 Exact match: 1" in done.stdout
    assert "WSVRC004 Linked learner similar match: 1" in done.stdout
    raw = (tmp_path / "learners-verified.csv").read_bytes().decode("utf-8")
    assert raw.startswith('"Line","Uln","GivenName","FamilyName","ResponseCode"') and raw.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert [
        (r["Line"], r["ResponseCode"], r["FailureFlags"], r["MasterUln"], r["ErrorCode"]) for r in rows
    ] == [
        ("2", "WSVRC001", "", "", ""),
        ("3", "WSVRC004", "VRF5", MASTER_ULN, ""),
        ("5", "WSVRC005", "VRF1 VRF2", "", ""),
        ("6", "", "", "", "WSEC0103"),
    ]
    assert rows[2]["GivenName"] == '\'=HYPERLINK("x")'
    assert "DateOfBirth must be a date" in rows[3]["ErrorMessage"]


@pytest.mark.parametrize(
    ("content", "args", "says"),
    [
        (
            f"ULN,Name\n{TEST_LEARNER},Test Learner\n",
            (),
            "lrs-ws: The header row must name Uln, GivenName, FamilyName",
        ),
        ("Uln,GivenName,FamilyName\n", (), "lrs-ws: At least one learner is required."),
        (FILE, ("--org", "DEMO99"), "lrs-ws: No organisation DEMO99."),
        (FILE, ("--user", DEMO2_USER), f"lrs-ws: No user {DEMO2_USER} in organisation {ORG1}."),
    ],
    ids=["wrong header", "no learners", "unknown organisation", "another organisation's user"],
)
def test_verify_submit_refuses_a_bad_file_or_submitter_in_one_line_and_stores_nothing(
    server: LiveServer, engine: Any, tmp_path: Path, content: str, args: tuple[str, ...], says: str
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(content, encoding="utf-8")
    before = db_state(engine)
    done = run_cli(server, str(source), *(args if "--org" in args else ("--org", "DEMO01", *args)))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(says), done.stderr
    assert "Traceback" not in done.stderr
    assert db_state(engine) == before
    assert not (tmp_path / "bad-verified.csv").exists()
