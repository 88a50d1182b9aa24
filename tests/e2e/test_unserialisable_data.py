"""A stored value XML cannot carry (put there behind the service's back) never gives an empty HTTP 200: the
call is a WSEC0199 Server fault with a request id, logged and counted as a fault."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from support.batch import achievement
from support.hardening import LogCursor
from support.records import add_learner, create_id
from support.soap import DEMO1, expect_fault, fault_message
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
        "fault", "WSEC0199", 500, operation
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
            live_server, "GetAchievement", soap.GetAchievement,
            invokingUser=DEMO1, achievementId=achievement_id,
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
            invokingUser=DEMO1, emailAddress="mi@demo1.example", submissionType="Final",
            achievements={"Achievement": [achievement("1234567890", "J/602/3521")]},
        ).JobId
    )
    with stored(live_wiring, "batch_jobs", "filename", job_id, "july\uffff.csv"):
        assert_counted_server_fault(
            live_server, "GetAchievementBatchJob", soap.GetAchievementBatchJob,
            invokingUser=DEMO1, jobId=job_id,
        )
    assert int(soap.GetAchievementBatchJob(invokingUser=DEMO1, jobId=job_id).JobID) == job_id
