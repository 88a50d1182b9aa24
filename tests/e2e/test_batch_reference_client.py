"""An MI system built against the real LRS WSDL points at this service and works unchanged.

The zeep client is built from tests/data/lrs/ExternalService.wsdl (the real contract, not ours); only the
address is overridden. The server runs with its batch worker thread, as `lrs-ws serve` does by default.
Every answer is also validated against the real contract's schema.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from support.batch import (
    CREATE,
    GOLDEN,
    REFERENCE_WSDL,
    REINSTATE,
    UPDATE,
    WITHDRAW,
    achievement,
    count,
    error_rows,
    reference_schema,
    wait_until,
)
from support.databases import DEMO, build_database, remove_database
from support.demo import AMIRA, DEMO_PASSWORD, GRACE, JAMES, OWEN
from support.server import LiveServer
from support.soap import DEMO1, DEMO2, expect_fault, fault_code, fault_message

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICES = "http://api.lrs.qcf.gov.uk/services"
MODEL = "http://api.lrs.qcf.gov.uk/model"

JOB_RESPONSE_ORDER = [
    "ResponseCode",
    "AchievementBatchErrorFile",
    "AchievementsCreated",
    "AchievementsPromotedToFinal",
    "AchievementsReinstated",
    "AchievementsUpdated",
    "AchievementsWithdrawn",
    "BusinessRuleErrors",
    "Duration",
    "EndDate",
    "FieldDataErrors",
    "Filename",
    "JobID",
    "LearnerDataErrors",
    "NumberOfRecords",
    "PercentageSuccessfulRecords",
    "RejectionReason",
    "StartDate",
    "Status",
    "SubmittedDate",
    "SuccessfulFinalAchievements",
    "SuccessfulProvisionalAchievements",
    "Type",
    "User",
]


class Capture:
    """The raw HTTP exchanges of a zeep client."""

    def __init__(self) -> None:
        self.exchanges: list[requests.Response] = []

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.exchanges.append(response)


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = build_database(backend, tmp_path_factory.mktemp(f"batch-db-{backend}"), DEMO)
    live = LiveServer(
        url,
        tmp_path_factory.mktemp("batch-server") / "gunicorn.log",
        extra_env={"LRS_WS_WORKER_POLL_SECONDS": "0.1", "LRS_WS_MAX_BATCH_ACHIEVEMENTS": "50"},
        batch_worker=True,
    ).start()
    yield live
    live.stop()
    remove_database(backend, url)


@pytest.fixture(scope="module")
def capture() -> Capture:
    return Capture()


@pytest.fixture(scope="module")
def lrs(server: LiveServer, capture: Capture) -> Any:
    """A zeep proxy generated from the real LRS WSDL, bound to this service's address."""
    session = requests.Session()
    session.hooks["response"].append(capture)
    client = zeep.Client(str(REFERENCE_WSDL), transport=zeep.Transport(session=session))
    (binding,) = client.wsdl.bindings
    return client.create_service(binding, server.soap_url)


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return reference_schema(tmp_path_factory.mktemp("reference-schema"))


def body_child(raw: bytes) -> etree._Element:
    doc = etree.fromstring(raw)
    body = doc.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None and len(body) == 1
    return body[0]


def assert_valid(schema: Any, element: etree._Element) -> None:
    assert schema.validate(etree.ElementTree(copy.deepcopy(element))), schema.error_log


def submit(lrs: Any, rows: list[dict[str, Any]], kind: str = "Final", user: dict[str, str] = DEMO1) -> int:
    result = lrs.SubmitAchievementBatchJob(
        invokingUser=user,
        emailAddress="mi@demo1.example",
        submissionType=kind,
        achievements={"Achievement": rows},
    )
    assert result.ResponseCode == "WSRC0000"
    return int(result.JobId)


def finished(lrs: Any, job_id: int, user: dict[str, str] = DEMO1) -> Any:
    def done() -> Any:
        job = lrs.GetAchievementBatchJob(invokingUser=user, jobId=job_id)
        return job if job.Status in ("Successful", "Failed") else None

    return wait_until(done, timeout=90)


def counts(job: Any) -> dict[str, int]:
    names = [
        "AchievementsCreated",
        "AchievementsUpdated",
        "AchievementsWithdrawn",
        "AchievementsReinstated",
        "AchievementsPromotedToFinal",
        "FieldDataErrors",
        "LearnerDataErrors",
        "BusinessRuleErrors",
        "SuccessfulFinalAchievements",
        "SuccessfulProvisionalAchievements",
        "NumberOfRecords",
    ]
    return {n: getattr(job, n) for n in names}


def test_a_reference_client_creates_final_achievements_and_reads_every_count_and_the_error_file(
    lrs, schema, capture
):
    job_id = submit(
        lrs,
        [
            achievement(JAMES, "A/500/0001", mis="R1"),
            achievement(AMIRA, "A/500/0002", mis="R2"),
            achievement("3415521948", "A/500/0003", mis="R3"),
        ],
    )
    job = finished(lrs, job_id)

    assert job.Status == "Successful" and job.JobID == job_id and job.ResponseCode == "WSRC0000"
    assert counts(job) == {
        "AchievementsCreated": 2,
        "AchievementsUpdated": 0,
        "AchievementsWithdrawn": 0,
        "AchievementsReinstated": 0,
        "AchievementsPromotedToFinal": 0,
        "FieldDataErrors": 1,
        "LearnerDataErrors": 0,
        "BusinessRuleErrors": 0,
        "SuccessfulFinalAchievements": 2,
        "SuccessfulProvisionalAchievements": 0,
        "NumberOfRecords": 3,
    }
    assert job.PercentageSuccessfulRecords == pytest.approx(66.67, abs=0.01)
    assert (job.Type, job.User, job.Filename, job.RejectionReason) == ("Final", "demo1.edc", None, None)
    assert isinstance(job.SubmittedDate, datetime) and job.StartDate <= job.EndDate
    assert re.fullmatch(r"\d\d:\d\d:\d\d", job.Duration)
    (row,) = error_rows(job.AchievementBatchErrorFile)
    assert row == {
        "Line": "3",
        "MisIdentifier": "R3",
        "Uln": "3415521948",
        "UnitOrQualificationReferenceNumber": "A/500/0003",
        "ErrorCode": "WSEC0136",
        "ErrorMessage": "The ULN is not valid: it must be 10 digits with a correct check digit.",
        "RuleId": "ULN_CHECK_DIGIT",
        "Field": "Uln",
        "Value": "3415521948",
    }
    got = body_child(capture.exchanges[-1].content)
    assert got.tag == f"{{{SERVICES}}}GetAchievementBatchJobResponse"
    result = got[0]
    assert result.tag == f"{{{SERVICES}}}GetAchievementBatchJobResult"
    names = [etree.QName(c).localname for c in result]
    # Empty values are left out (as WCF does with EmitDefaultValue=false); the rest keep the contract's order.
    assert names == [n for n in JOB_RESPONSE_ORDER if n in names]
    assert set(JOB_RESPONSE_ORDER) - set(names) == {"Filename", "RejectionReason"}
    assert {etree.QName(c).namespace for c in result} == {MODEL}
    assert_valid(schema, got)


def test_a_reference_client_updates_withdraws_reinstates_and_promotes_provisional_achievements(lrs, engine):
    first = finished(
        lrs,
        submit(
            lrs,
            [
                achievement(OWEN, "B/500/0001", mis="U1", grade="Pass"),
                achievement(OWEN, "B/500/0002", mis="U2"),
                achievement(GRACE, "B/500/0003", mis="U3"),
            ],
            kind="Provisional",
        ),
    )
    assert counts(first)["SuccessfulProvisionalAchievements"] == 3

    second = finished(
        lrs,
        submit(
            lrs,
            [
                achievement(OWEN, "B/500/0001", UPDATE, mis="U1", grade="Merit"),  # updated + promoted
                achievement(OWEN, "B/500/0002", WITHDRAW, mis="U2", ActionReason="Entered in error"),
                achievement(GRACE, "B/500/0003", CREATE, mis="U3", grade="Pass"),  # promoted to Final
                achievement(OWEN, "B/500/0009", UPDATE, mis="U9"),  # no such achievement
            ],
            kind="Final",
        ),
    )
    assert counts(second) == {
        "AchievementsCreated": 0,
        "AchievementsUpdated": 1,
        "AchievementsWithdrawn": 1,
        "AchievementsReinstated": 0,
        "AchievementsPromotedToFinal": 2,
        "FieldDataErrors": 0,
        "LearnerDataErrors": 0,
        "BusinessRuleErrors": 1,
        "SuccessfulFinalAchievements": 2,
        "SuccessfulProvisionalAchievements": 1,
        "NumberOfRecords": 4,
    }

    third = finished(
        lrs,
        submit(
            lrs,
            [
                achievement(OWEN, "B/500/0002", REINSTATE, mis="U2"),
                achievement(OWEN, "B/500/0001", REINSTATE, mis="U1"),  # not withdrawn
                achievement(OWEN, "B/500/0001", UPDATE, mis="U1", given="Owain"),  # names differ
            ],
            kind="Final",
        ),
    )
    assert counts(third)["AchievementsReinstated"] == 1
    assert (third.BusinessRuleErrors, third.LearnerDataErrors) == (1, 1)
    assert [r["ErrorCode"] for r in error_rows(third.AchievementBatchErrorFile)] == ["WSEC0106", "WSEC0111"]
    statuses = count(
        engine,
        "SELECT count(*) FROM achievements WHERE mis_identifier IN ('U1', 'U3') "
        "AND status = 'Final' AND withdrawn = :f",
        f=False,
    )
    assert statuses == 2


def test_the_golden_request_bytes_of_a_reference_client_are_accepted_and_answered_per_the_contract(
    server, schema
):
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"http://api.lrs.qcf.gov.uk/services/IExternalService/SubmitAchievementBatchJob"',
    }
    sent = (GOLDEN / "SubmitAchievementBatchJob.request.xml").read_bytes()
    answer = requests.post(server.soap_url, data=sent, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    got = body_child(answer.content)
    assert_valid(schema, got)
    result = got.find(f"{{{SERVICES}}}SubmitAchievementBatchJobResult")
    assert [etree.QName(c).text for c in result] == [f"{{{MODEL}}}ResponseCode", f"{{{MODEL}}}JobId"]
    job_id = int(result.findtext(f"{{{MODEL}}}JobId"))

    ask = (
        (GOLDEN / "GetAchievementBatchJob.request.xml")
        .read_bytes()
        .replace(b"<ns0:jobId>42</ns0:jobId>", f"<ns0:jobId>{job_id}</ns0:jobId>".encode())
    )
    headers["SOAPAction"] = '"http://api.lrs.qcf.gov.uk/services/IExternalService/GetAchievementBatchJob"'

    def status() -> etree._Element | None:
        reply = requests.post(server.soap_url, data=ask, headers=headers, timeout=30)
        assert reply.status_code == 200, reply.text[:500]
        element = body_child(reply.content)
        done = element.findtext(f".//{{{MODEL}}}Status") in ("Successful", "Failed")
        return element if done else None

    job = wait_until(status, timeout=90)
    assert_valid(schema, job)
    values = {etree.QName(c).localname: c.text for c in job[0]}
    # The golden batch: a Create for James Pickles, and a Withdraw whose MisIdentifier M2 matches nothing.
    assert values["Status"] == "Successful"
    assert (values["AchievementsCreated"], values["BusinessRuleErrors"]) == ("1", "1")
    assert values["JobID"] == str(job_id) and values["NumberOfRecords"] == "2"


def test_one_create_from_a_reference_client_on_the_wire(lrs, schema, capture):
    """The exact request a reference client sends for one Create, and the exact answers it gets."""
    before = len(capture.exchanges)
    job_id = submit(lrs, [achievement(JAMES, "600/1166/X", mis="MIS-0001", grade="Merit")])
    finished(lrs, job_id)
    submitted, *polls = capture.exchanges[before:]
    request = submitted.request
    assert request.headers["SOAPAction"] == (
        '"http://api.lrs.qcf.gov.uk/services/IExternalService/SubmitAchievementBatchJob"'
    )
    sent = etree.fromstring(request.body)
    assert sent.find(f"{{{SOAP_ENV}}}Header/{{http://www.w3.org/2005/08/addressing}}Action") is not None
    assert_valid(schema, body_child(submitted.content))
    assert_valid(schema, body_child(polls[-1].content))
    assert submitted.headers["Content-Type"].startswith("text/xml")
    out = os.environ.get("LRS_WS_CAPTURE_DIR")
    if out:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        for name, exchange in (("submit", submitted), ("get", polls[-1])):
            req = exchange.request
            head = "".join(f"{k}: {v}\n" for k, v in req.headers.items())
            (folder / f"{name}.request.txt").write_bytes(
                f"POST {req.url}\n{head}\n".encode() + (req.body or b"")
            )
            resp_head = "".join(f"{k}: {v}\n" for k, v in exchange.headers.items())
            (folder / f"{name}.response.txt").write_bytes(
                f"HTTP {exchange.status_code}\n{resp_head}\n".encode() + exchange.content
            )


def test_unknown_jobs_and_other_organisations_jobs_get_the_same_wsrc0018_answer(lrs):
    job_id = submit(lrs, [achievement(GRACE, "C/500/0001")])
    other = expect_fault("WSRC0018", lrs.GetAchievementBatchJob, invokingUser=DEMO2, jobId=job_id)
    unknown = expect_fault("WSRC0018", lrs.GetAchievementBatchJob, invokingUser=DEMO2, jobId=job_id + 10_000)
    assert other.message.replace(str(job_id), "N") == unknown.message.replace(str(job_id + 10_000), "N")
    expect_fault("WSRC0018", lrs.GetAchievementBatchJob, invokingUser=DEMO1)


def test_a_wrong_password_is_refused_with_wsec0003_and_creates_no_job(lrs, engine):
    jobs = count(engine, "SELECT count(*) FROM batch_jobs")
    fault = expect_fault(
        "WSEC0003",
        lrs.SubmitAchievementBatchJob,
        invokingUser={**DEMO1, "OrgPassword": "x"},
        emailAddress="mi@demo1.example",
        submissionType="Final",
        achievements={"Achievement": [achievement(JAMES, "D/500/0001")]},
    )
    assert fault_code(fault) == "WSEC0003"
    assert count(engine, "SELECT count(*) FROM batch_jobs") == jobs


# -- request-level refusals and the job list -----------------------------------------------------------------

BATCH_TABLES = ("batch_jobs", "batch_records", "achievements", "audit_events")


@pytest.fixture(scope="module")
def no_batch_user(server: LiveServer) -> dict[str, str]:
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.service import admin

    w = wire(Settings(database_url=server.database_url))
    admin.add_organisation(
        w.uow_factory(), ref="NOBAT1", name="No batches", ukprn="10000009", batch_enabled=False
    )
    admin.add_user(
        w.uow_factory(),
        organisation_ref="NOBAT1",
        username="nobatch.mi",
        password=DEMO_PASSWORD,
        email="mi@nobat.example",
        roles=["AO_USER"],
    )
    w.engine.dispose()
    return {"UserName": "nobatch.mi", "OrgPassword": DEMO_PASSWORD, "OrganisationRef": "NOBAT1"}


@pytest.mark.parametrize(
    ("code", "change"),
    [
        ("WSRC0043", {"invokingUser": "no-batch"}),
        ("WSEC0044", {"emailAddress": "mi.at.demo1.example"}),
        ("WSEC0044", {"emailAddress": None}),
        ("WSEC0044", {"emailAddress": "postmaster,mi@demo1.example"}),
        ("WSEC0044", {"emailAddress": "a;b@demo1.example"}),
        ("WSEC0044", {"emailAddress": "mi@demo1.example\r\nBcc: x@elsewhere.example"}),
        ("WSEC0044", {"emailAddress": "MI Team <mi@demo1.example>"}),
        ("WSEC0044", {"emailAddress": '"mi team"@demo1.example'}),
        ("WSEC0044", {"emailAddress": "mi@demo1.example mi2@demo1.example"}),
        ("WSEC0045", {"submissionType": "Interim"}),
        ("WSEC0046", {"achievements": 51}),
        ("WSEC0047", {"achievements": 0}),
    ],
)
def test_a_refused_submission_creates_no_job_and_changes_nothing(lrs, engine, no_batch_user, code, change):
    from support.dbstate import db_state

    request: dict[str, Any] = {
        "invokingUser": DEMO1,
        "emailAddress": "mi@demo1.example",
        "submissionType": "Final",
        "achievements": {"Achievement": [achievement(GRACE, "E/500/0001")]},
    }
    for key, value in change.items():
        if key == "invokingUser":
            request[key] = no_batch_user
        elif key == "achievements":
            request[key] = {"Achievement": [achievement(GRACE, f"E/501/{i:04d}") for i in range(value)]}
        else:
            request[key] = value
    state = db_state(engine, BATCH_TABLES)
    expect_fault(code, lrs.SubmitAchievementBatchJob, **request)
    assert db_state(engine, BATCH_TABLES) == state


def test_an_ao_user_lists_its_own_batch_jobs_newest_first_and_paged(server):
    from support.soap import client_for

    # This service's own WSDL: ListAchievementBatchJobs is not in the LRS contract.
    ours = client_for(server.soap_url)

    def submit_as(user: dict[str, str], kind: str, refs: list[str]) -> int:
        return int(
            ours.SubmitAchievementBatchJob(
                invokingUser=user,
                emailAddress="mi@demo.example",
                submissionType=kind,
                achievements={"Achievement": [achievement(GRACE, ref) for ref in refs]},
            ).JobId
        )

    def jobs(user: dict[str, str], **paging: int) -> tuple[int, list[Any]]:
        page = ours.ListAchievementBatchJobs(invokingUser=user, **paging)
        return page.TotalCount, (page.Jobs.AchievementBatchJobResponse if page.Jobs else [])

    before, _ = jobs(DEMO2)
    demo1_job = submit_as(DEMO1, "Final", ["F/500/0009"])
    first = submit_as(DEMO2, "Provisional", ["F/500/0001"])
    second = submit_as(DEMO2, "Final", ["F/500/0002", "F/500/0003"])

    total, (newest,) = jobs(DEMO2, pageNumber=1, pageSize=1)
    assert total == before + 2
    assert (newest.JobID, newest.NumberOfRecords, newest.Type) == (second, 2, "Final")
    assert newest.User == "demo2.edc" and newest.AchievementBatchErrorFile is None
    _, (older,) = jobs(DEMO2, pageNumber=2, pageSize=1)
    assert (older.JobID, older.Type) == (first, "Provisional")
    _, demo2_jobs = jobs(DEMO2, pageSize=500)
    assert demo1_job not in {j.JobID for j in demo2_jobs}
    assert [j.JobID for j in demo2_jobs] == sorted((j.JobID for j in demo2_jobs), reverse=True)


def test_an_email_address_that_is_not_exactly_one_plain_address_is_refused_with_a_clear_message(lrs):
    fault = expect_fault(
        "WSEC0044",
        lrs.SubmitAchievementBatchJob,
        invokingUser=DEMO1,
        emailAddress="postmaster,mi@demo1.example",
        submissionType="Final",
        achievements={"Achievement": [achievement(GRACE, "E/500/0002")]},
    )
    assert "exactly one plain address" in fault_message(fault) and "postmaster" not in fault_message(fault)


def test_a_record_holding_a_character_that_cannot_be_stored_is_a_field_error_and_the_job_stays_readable(
    lrs, engine
):
    job_id = submit(
        lrs,
        [
            achievement(JAMES, "U/500/0001", mis="U1"),
            achievement(JAMES, "U/500/0002", mis="U2\x85"),
            achievement(JAMES, "U/500/0003", mis="U3", grade="Pass\ufdd0"),
        ],
    )
    job = finished(lrs, job_id)
    assert (job.Status, job.AchievementsCreated, job.FieldDataErrors) == ("Successful", 1, 2)
    rows = error_rows(job.AchievementBatchErrorFile)
    assert [(r["Line"], r["ErrorCode"]) for r in rows] == [("2", "WSEC0103"), ("3", "WSEC0103")]
    refused = "contains a character that cannot be stored"
    assert rows[0]["ErrorMessage"].startswith(f"MisIdentifier {refused} (U+0085")
    assert rows[1]["ErrorMessage"].startswith(f"Grade {refused} (U+FDD0")
    assert rows[0]["MisIdentifier"] == "U2 "
    stored = "SELECT count(*) FROM achievements WHERE reference IN ('U/500/0002', 'U/500/0003')"
    assert count(engine, stored) == 0
