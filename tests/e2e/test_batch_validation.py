"""ValidateAchievementBatch: a dry run of SubmitAchievementBatchJob over SOAP, against a live server (with its
batch worker) on both backends. What it answers is what the job then does; nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from support.batch import (
    CREATE,
    REINSTATE,
    UPDATE,
    WITHDRAW,
    achievement,
    count,
    error_rows,
    valid_uln,
    wait_until,
)
from support.databases import DEMO, build_database, remove_database
from support.dbstate import db_state
from support.demo import AMIRA, DEMO_PASSWORD, GRACE, JAMES, OWEN, TEST_LEARNER
from support.server import LiveServer
from support.smtp import SmtpServer
from support.soap import DEMO1, DEMO2, LRS, expect_fault, fault_message

NOT_REGISTERED = valid_uln("200000000")
MAX = 50
CHUNK = 2
COUNT_FIELDS = (
    "AchievementsCreated",
    "AchievementsPromotedToFinal",
    "AchievementsReinstated",
    "AchievementsUpdated",
    "AchievementsWithdrawn",
    "BusinessRuleErrors",
    "FieldDataErrors",
    "LearnerDataErrors",
    "NumberOfRecords",
    "PercentageSuccessfulRecords",
    "SuccessfulFinalAchievements",
    "SuccessfulProvisionalAchievements",
)
OUTBOX_PENDING = "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL AND given_up_at IS NULL"
BATCH_TABLES = ("batch_jobs", "batch_records", "achievements", "audit_events", "outbox_messages")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(backend: str, smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = build_database(backend, tmp_path_factory.mktemp(f"validate-db-{backend}"), DEMO)
    live = LiveServer(
        url,
        tmp_path_factory.mktemp("validate-server") / "gunicorn.log",
        batch_worker=True,
        extra_env={
            "LRS_WS_WORKER_POLL_SECONDS": "0.1",
            "LRS_WS_MAX_BATCH_ACHIEVEMENTS": str(MAX),
            # Small chunks: records that depend on each other fall in different chunks.
            "LRS_WS_WORKER_CHUNK_SIZE": str(CHUNK),
            "LRS_WS_SMTP_URL": smtp.url,
        },
    ).start()
    yield live
    live.stop()
    remove_database(backend, url)


def validate(lrs: Any, rows: list[dict[str, Any]], kind: str = "Final", user: dict[str, str] = DEMO1) -> Any:
    result = lrs.ValidateAchievementBatch(
        invokingUser=user, submissionType=kind, achievements={"Achievement": rows}
    )
    assert result.ResponseCode == "WSRC0000"
    return result


def run_job(
    lrs: Any, engine: Any, rows: list[dict[str, Any]], kind: str = "Final", user: dict[str, str] = DEMO1
) -> Any:
    """Submit the batch and wait for its job to finish and its e-mail to be delivered (the outbox is then
    still, so a dry run's snapshots compare only what the dry run could have changed)."""
    job_id = lrs.SubmitAchievementBatchJob(
        invokingUser=user,
        emailAddress="mi@demo.example",
        submissionType=kind,
        achievements={"Achievement": rows},
    ).JobId

    def done() -> Any:
        job = lrs.GetAchievementBatchJob(invokingUser=user, jobId=job_id)
        return job if job.Status in ("Successful", "Failed") else None

    job = wait_until(done, timeout=90)
    wait_until(lambda: count(engine, OUTBOX_PENDING) == 0, timeout=60)
    return job


def counts(answer: Any) -> dict[str, Any]:
    return {name: getattr(answer, name) for name in COUNT_FIELDS}


def failures(answer: Any) -> list[tuple[Any, ...]]:
    return [
        (f.Line, f.RuleId, f.Field, f.Value, f.ErrorCode)
        for f in (answer.FailedRecords.AchievementRecordFailure if answer.FailedRecords else [])
    ]


def test_a_valid_batch_is_answered_with_the_counts_its_job_then_has_and_no_table_changes(lrs, engine):
    rows = [
        achievement(JAMES, "A/600/0001", mis="V1"),
        achievement(AMIRA, "A/600/0002", mis="V2"),
        achievement(OWEN, "A/600/0003", mis="V3", grade="Merit"),
    ]
    before = db_state(engine)
    answer = validate(lrs, rows, kind="Provisional")
    assert db_state(engine) == before
    assert answer.Type == "Provisional"
    assert counts(answer) == {
        **dict.fromkeys(COUNT_FIELDS, 0),
        "AchievementsCreated": 3,
        "NumberOfRecords": 3,
        "PercentageSuccessfulRecords": 100.0,
        "SuccessfulProvisionalAchievements": 3,
    }
    assert answer.AchievementBatchErrorFile is None and not answer.FailedRecords

    job = run_job(lrs, engine, rows, kind="Provisional")
    assert counts(job) == counts(answer)

    # Validated again now the three exist: a Final submission would promote them; still nothing changes.
    before = db_state(engine)
    again = validate(lrs, rows, kind="Final")
    assert db_state(engine) == before
    assert (again.AchievementsPromotedToFinal, again.SuccessfulFinalAchievements) == (3, 3)
    assert counts(again) == counts(run_job(lrs, engine, rows, kind="Final"))


def test_failing_records_are_answered_with_their_rule_field_and_value_exactly_as_the_job_then_fails_them(
    lrs, engine
):
    run_job(lrs, engine, [achievement(GRACE, "B/600/0001", mis=m) for m in ("M1", "M2")])
    rows = [
        achievement(JAMES, "B/600/0002", mis="F1"),  # valid
        achievement("1234567890", "B/600/0003", mis="F2"),  # check digit
        achievement(JAMES, "B/600/0004", mis="F3", grade="=HYPERLINK(1) Distinction"),  # grade too long
        achievement(JAMES, "B/600/0005", mis="F4", award=datetime(2099, 7, 1)),  # award date future
        achievement(AMIRA, "B/600/0006", mis="F5", given="Amirah"),  # names do not match
        achievement(NOT_REGISTERED, "B/600/0007", mis="F6"),  # not on the register
        achievement(JAMES, "B/600/0008", UPDATE, mis="F7"),  # no such achievement
        achievement(GRACE, "B/600/0001", WITHDRAW),  # two match, no MIS
        achievement(GRACE, "B/600/0001", REINSTATE, mis="M1"),  # not withdrawn
        achievement(JAMES, "B/600/0009", mis="F8", ProviderUkprn="0999"),  # UKPRN format
    ]
    before = db_state(engine)
    answer = validate(lrs, rows)
    assert db_state(engine) == before
    assert failures(answer) == [
        (2, "ULN_CHECK_DIGIT", "Uln", "1234567890", "WSEC0136"),
        (3, "GRADE_TOO_LONG", "Grade", "=HYPERLINK(1) Distinction", "WSEC0101"),
        (4, "AWARD_DATE_FUTURE", "AchievementAwardDate", "2099-07-01T00:00:00", "WSEC0102"),
        (5, "LEARNER_NAME_MISMATCH", "GivenName,FamilyName", "Amirah Khan", "WSEC0111"),
        (6, "LEARNER_NOT_FOUND", "Uln", NOT_REGISTERED, "WSEC0104"),
        (7, "TARGET_NOT_FOUND", "UnitOrQualificationReferenceNumber", "B/600/0008", "WSEC0105"),
        (8, "TARGET_AMBIGUOUS", "MisIdentifier", None, "WSEC0109"),
        (9, "NOT_WITHDRAWN", "Action", "4", "WSEC0106"),
        (10, "PROVIDER_UKPRN_FORMAT", "ProviderUkprn", "0999", "WSEC0103"),
    ]
    assert (answer.FieldDataErrors, answer.LearnerDataErrors, answer.BusinessRuleErrors) == (3, 2, 4)
    assert answer.AchievementsCreated == 1

    job = run_job(lrs, engine, rows)
    assert counts(job) == counts(answer)
    # The job's error file is the dry run's, row for row, with the rule columns after the LRS ones.
    assert job.AchievementBatchErrorFile == answer.AchievementBatchErrorFile
    file_rows = error_rows(job.AchievementBatchErrorFile)
    assert list(file_rows[0]) == [
        "Line",
        "MisIdentifier",
        "Uln",
        "UnitOrQualificationReferenceNumber",
        "ErrorCode",
        "ErrorMessage",
        "RuleId",
        "Field",
        "Value",
    ]
    grade = file_rows[1]
    assert (grade["RuleId"], grade["Field"], grade["Value"]) == (
        "GRADE_TOO_LONG",
        "Grade",
        "'=HYPERLINK(1) Distinction",
    )


def test_a_record_that_depends_on_an_earlier_one_of_the_same_batch_is_decided_after_it(lrs, engine):
    run_job(lrs, engine, [achievement(OWEN, "C/600/0002", mis="E1")])
    # Chunks of two records: each dependency below crosses a chunk boundary.
    rows = [
        achievement(OWEN, "C/600/0001", CREATE, mis="D1"),
        achievement(OWEN, "C/600/0002", WITHDRAW, mis="E1", ActionReason="Entered in error"),
        achievement(OWEN, "C/600/0001", UPDATE, mis="D1", grade="Distinction"),
        achievement(OWEN, "C/600/0001", WITHDRAW, mis="D1", ActionReason="Entered in error"),
        achievement(OWEN, "C/600/0001", WITHDRAW, mis="D1"),
        achievement(OWEN, "C/600/0002", REINSTATE, mis="E1"),
        achievement(OWEN, "C/600/0001", REINSTATE, mis="D1"),
        achievement(OWEN, "C/600/0002", UPDATE, mis="E1", grade="Merit"),
        achievement(OWEN, "C/600/0001", CREATE, mis="D1"),
        achievement(OWEN, "C/600/0002", REINSTATE, mis="E1"),
    ]
    before = db_state(engine)
    answer = validate(lrs, rows)
    assert db_state(engine) == before
    assert (
        answer.AchievementsCreated,
        answer.AchievementsUpdated,
        answer.AchievementsWithdrawn,
        answer.AchievementsReinstated,
    ) == (1, 2, 2, 2)
    assert failures(answer) == [
        (5, "ALREADY_WITHDRAWN", "Action", "3", "WSEC0106"),
        (9, "DUPLICATE_ACHIEVEMENT", "UnitOrQualificationReferenceNumber", "C/600/0001", "WSEC0108"),
        (10, "NOT_WITHDRAWN", "Action", "4", "WSEC0106"),
    ]
    job = run_job(lrs, engine, rows)
    assert counts(job) == counts(answer)
    assert job.AchievementBatchErrorFile == answer.AchievementBatchErrorFile


def test_another_organisations_achievement_is_target_not_found_exactly_like_a_missing_one(lrs, engine):
    run_job(lrs, engine, [achievement(TEST_LEARNER, "D/600/0001", mis="O1")], user=DEMO2)
    answer = validate(
        lrs,
        [
            achievement(TEST_LEARNER, "D/600/0001", UPDATE, mis="O1", grade="Merit"),
            achievement(TEST_LEARNER, "D/600/0002", UPDATE, mis="O1", grade="Merit"),
        ],
    )
    theirs, missing = answer.FailedRecords.AchievementRecordFailure
    assert (
        (theirs.RuleId, theirs.ErrorCode)
        == (missing.RuleId, missing.ErrorCode)
        == ("TARGET_NOT_FOUND", "WSEC0105")
    )
    assert theirs.ErrorMessage.replace("D/600/0001", "R") == missing.ErrorMessage.replace("D/600/0002", "R")


@pytest.fixture(scope="module")
def no_batch_user(server: LiveServer) -> dict[str, str]:
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.service import admin

    w = wire(Settings(database_url=server.database_url))
    admin.add_organisation(
        w.uow_factory(), ref="NOBAT2", name="No batches", ukprn="10000019", batch_enabled=False
    )
    admin.add_user(
        w.uow_factory(),
        organisation_ref="NOBAT2",
        username="nobatch2.mi",
        password=DEMO_PASSWORD,
        email="mi@nobat.example",
        roles=["AO_USER"],
    )
    w.engine.dispose()
    return {"UserName": "nobatch2.mi", "OrgPassword": DEMO_PASSWORD, "OrganisationRef": "NOBAT2"}


@pytest.mark.parametrize(
    ("code", "change"),
    [
        ("WSEC0003", {"invokingUser": {**DEMO1, "OrgPassword": "wrong"}}),
        ("WSEC0006", {"invokingUser": LRS}),
        ("WSRC0043", {"invokingUser": "no-batch"}),
        ("WSEC0044", {"emailAddress": "mi.at.demo1.example"}),
        ("WSEC0045", {"submissionType": "Interim"}),
        ("WSEC0045", {"submissionType": None}),
        ("WSEC0046", {"achievements": MAX + 1}),
        ("WSEC0047", {"achievements": 0}),
    ],
)
def test_a_request_refused_by_the_submit_is_refused_by_the_dry_run_with_the_same_fault(
    lrs, engine, no_batch_user, code, change
):
    request: dict[str, Any] = {
        "invokingUser": DEMO1,
        "emailAddress": "mi@demo1.example",
        "submissionType": "Final",
        "achievements": {"Achievement": [achievement(GRACE, "E/600/0001")]},
    }
    for key, value in change.items():
        if value == "no-batch":
            request[key] = no_batch_user
        elif key == "achievements":
            request[key] = {"Achievement": [achievement(GRACE, f"E/601/{i:04d}") for i in range(value)]}
        else:
            request[key] = value
    state = db_state(engine, BATCH_TABLES)
    submitted = expect_fault(code, lrs.SubmitAchievementBatchJob, **request)
    validated = expect_fault(code, lrs.ValidateAchievementBatch, **request)
    assert fault_message(validated) == fault_message(submitted)
    assert db_state(engine, BATCH_TABLES) == state
