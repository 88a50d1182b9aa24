"""Characters XML cannot carry: refused on the way in, and a stored one (put there behind the service's back)
never gives an empty HTTP 200 on the way out but a WSEC0199 Server fault with a request id, logged and counted
as a fault."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from sqlalchemy import text
from support.batch import achievement
from support.dbstate import RECORD_TABLES, db_state
from support.demo import DEMO1_USER, DEMO_PASSWORD, ORG1
from support.hardening import LogCursor
from support.records import achievement_record, add_learner, create_id
from support.soap import DEMO1, expect_fault, fault_message, parse_fault
from test_operability import sample, scrape

UNSERIALISABLE = "Pass\uffff"


@contextmanager
def stored(live_wiring: Any, table: str, column: str, row_id: int, value: str) -> Iterator[None]:
    """`value` written straight into one row, and the old value put back afterwards."""
    with live_wiring.engine.begin() as conn:
        old = conn.execute(text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}).scalar_one()
        conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE id = :id"), {"v": value, "id": row_id})
    try:
        yield
    finally:
        with live_wiring.engine.begin() as conn:
            conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE id = :id"), {"v": old, "id": row_id})


def assert_counted_server_fault(live_server: Any, operation: str, call: Any, **kwargs: Any) -> None:
    cursor = LogCursor(live_server)
    before = sample(scrape(live_server), "lrs_ws_faults_total", operation=operation, code="WSEC0199")
    fault = expect_fault("WSEC0199", call, **kwargs)
    assert fault.code.endswith("Server")
    found = re.search(r"\(request id ([0-9a-f-]+)\)", fault_message(fault))
    assert found is not None, fault_message(fault)
    line = cursor.request_line(found.group(1))
    assert (line["outcome"], line["code"], line["status"], line["operation"]) == (
        "fault",
        "WSEC0199",
        500,
        operation,
    )
    assert "response could not be serialised" in cursor.seen
    after = sample(scrape(live_server), "lrs_ws_faults_total", operation=operation, code="WSEC0199")
    assert after == before + 1


def test_an_achievement_holding_a_character_xml_cannot_carry_is_a_server_fault_not_an_empty_answer(
    soap: Any, live_server: Any, live_wiring: Any
) -> None:
    uln = add_learner(live_wiring, "Una", "Serialisable")
    achievement_id = create_id(soap, uln=uln, names=("Una", "Serialisable"))
    with stored(live_wiring, "achievements", "grade", achievement_id, UNSERIALISABLE):
        assert_counted_server_fault(
            live_server,
            "GetAchievement",
            soap.GetAchievement,
            invokingUser=DEMO1,
            achievementId=achievement_id,
        )
        assert_counted_server_fault(
            live_server, "GetLearnerAchievements", soap.GetLearnerAchievements, invokingUser=DEMO1, uln=uln
        )
    assert soap.GetAchievement(invokingUser=DEMO1, achievementId=achievement_id).Grade == "Pass"


def test_a_batch_job_holding_a_character_xml_cannot_carry_is_a_server_fault_not_an_empty_answer(
    soap: Any, live_server: Any, live_wiring: Any
) -> None:
    job_id = int(
        soap.SubmitAchievementBatchJob(
            invokingUser=DEMO1,
            emailAddress="mi@demo1.example",
            submissionType="Final",
            achievements={"Achievement": [achievement("1234567890", "J/602/3521")]},
        ).JobId
    )
    with stored(live_wiring, "batch_jobs", "filename", job_id, "july\uffff.csv"):
        assert_counted_server_fault(
            live_server,
            "GetAchievementBatchJob",
            soap.GetAchievementBatchJob,
            invokingUser=DEMO1,
            jobId=job_id,
        )
    assert int(soap.GetAchievementBatchJob(invokingUser=DEMO1, jobId=job_id).JobID) == job_id


@pytest.mark.parametrize("bad", ["\x85", "\ufdd0", "\U0001fffe"], ids=["NEL", "U+FDD0", "U+1FFFE"])
def test_a_single_record_holding_a_character_that_cannot_be_stored_is_refused_and_nothing_changes(
    soap: Any, live_wiring: Any, bad: str
) -> None:
    uln = add_learner(live_wiring, "Una", "Storable")
    achievement_id = create_id(soap, uln=uln, names=("Una", "Storable"))
    before = db_state(live_wiring.engine, RECORD_TABLES)
    fault = expect_fault(
        "WSEC0103",
        soap.EditAchievementGrade,
        invokingUser=DEMO1,
        achievementId=achievement_id,
        newGrade=f"Merit{bad}",
    )
    assert f"U+{ord(bad):04X}" in fault_message(fault)
    fault = expect_fault(
        "WSEC0103",
        soap.CreateAchievement,
        invokingUser=DEMO1,
        submissionType="Final",
        achievement=achievement_record(
            uln=uln, names=("Una", "Storable"), reference="J/602/3521", mis=f"M{bad}"
        ),
    )
    assert fault_message(fault).startswith("MisIdentifier contains a character that cannot be stored")
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


@pytest.mark.parametrize("reference", ["&#xB;", "&#xFFFF;", "&#x1;"])
def test_a_character_reference_xml_forbids_is_refused_by_the_parser_and_nothing_changes(
    live_server: Any, live_wiring: Any, reference: str
) -> None:
    before = db_state(live_wiring.engine, RECORD_TABLES)
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:s="http://api.lrs.qcf.gov.uk/services" xmlns:m="http://api.lrs.qcf.gov.uk/model">
  <soap:Body><s:EditAchievementGrade>
    <s:invokingUser><m:OrgPassword>{DEMO_PASSWORD}</m:OrgPassword><m:OrganisationRef>{ORG1}</m:OrganisationRef>
      <m:UserName>{DEMO1_USER}</m:UserName></s:invokingUser>
    <s:achievementId>1</s:achievementId><s:newGrade>Pass{reference}</s:newGrade>
  </s:EditAchievementGrade></soap:Body></soap:Envelope>"""
    got = requests.post(
        live_server.soap_url,
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
    )
    assert got.status_code == 500
    faultcode, code, _ = parse_fault(got.content)
    assert faultcode.endswith("Client") and code == "WSEC0001"
    assert db_state(live_wiring.engine, RECORD_TABLES) == before
