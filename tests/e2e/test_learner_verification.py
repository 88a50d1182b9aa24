"""VerifyLearner over SOAP against the live server, on SQLite and PostgreSQL: each response code, what the
answer does (and does not) reveal, who may verify, and every refused input with nothing changed."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from support.dbstate import db_state
from support.records import create_id, unregistered_uln
from support.soap import DEMO1, DEMO2, LRS, expect_fault, fault_message
from zeep.helpers import serialize_object

from lrs_ws.domain import model

BORN = date(1999, 4, 20)


def register(
    wiring: Any, given: str, family: str, *, previous: str | None = None, merged_into: str | None = None
) -> str:
    """A learner of the test's own on the register (born 1999-04-20, female); returns the ULN."""
    uln = unregistered_uln(wiring)
    with wiring.uow_factory() as uow:
        uow.learners.add(
            model.Learner(
                uln=uln,
                given_name=given,
                family_name=family,
                date_of_birth=BORN,
                gender=2,
                previous_family_name=previous,
                merged_into=merged_into,
            )
        )
        uow.commit()
    return uln


@pytest.fixture(scope="module")
def learners(live_wiring: Any) -> dict[str, str]:
    master = register(live_wiring, "Niamh", "Ó Súilleabháin", previous="Kelly-Burke")
    return {
        "master": master,
        "merged": register(live_wiring, "Niamh", "Kelly-Burke", merged_into=master),
    }


def verify(soap: Any, uln: str, given: str, family: str, caller: dict[str, str] = DEMO1, **more: Any) -> Any:
    return soap.VerifyLearner(invokingUser=caller, uln=uln, givenName=given, familyName=family, **more)


def flags(answer: Any) -> list[str]:
    return list(answer.FailureFlags.FailureFlag) if answer.FailureFlags else []


def test_the_registered_names_date_of_birth_and_gender_are_an_exact_match(
    soap: Any, learners: dict[str, str]
) -> None:
    answer = verify(soap, learners["master"], "Niamh", "Ó Súilleabháin", dateOfBirth=BORN, gender=2)
    assert (answer.ResponseCode, answer.Uln, answer.MasterUln, flags(answer)) == (
        "WSVRC001",
        learners["master"],
        None,
        [],
    )


@pytest.mark.parametrize(
    ("given", "family", "expected_flags"),
    [
        ("niamh", "O Suilleabhain", ["VRF5"]),
        ("Niamh", "Kelly Burke", ["VRF5", "VRF6"]),
        ("Ó Súilleabháin", "Niamh", ["VRF1", "VRF5", "VRF6"]),
    ],
    ids=["without diacritics", "previous family name without hyphen", "swapped"],
)
def test_similar_names_are_a_similar_match_with_the_flags_of_what_differs(
    soap: Any, learners: dict[str, str], given: str, family: str, expected_flags: list[str]
) -> None:
    answer = verify(soap, learners["master"], given, family)
    assert (answer.ResponseCode, flags(answer), answer.MasterUln) == ("WSVRC003", expected_flags, None)


def test_a_merged_uln_is_answered_for_its_master_with_the_linked_codes(
    soap: Any, learners: dict[str, str]
) -> None:
    exact = verify(soap, learners["merged"], "Niamh", "Ó Súilleabháin", dateOfBirth=BORN)
    assert (exact.ResponseCode, exact.Uln, exact.MasterUln, flags(exact)) == (
        "WSVRC002",
        learners["merged"],
        learners["master"],
        [],
    )
    similar = verify(soap, learners["merged"], "Niamh", "Kelly-Burke")
    assert (similar.ResponseCode, similar.MasterUln, flags(similar)) == (
        "WSVRC004",
        learners["master"],
        ["VRF5"],
    )


def test_a_learner_that_does_not_match_is_told_only_which_comparisons_failed(
    soap: Any, learners: dict[str, str]
) -> None:
    answer = verify(
        soap, learners["merged"], "Nora", "Kelly-Burke", dateOfBirth=BORN + timedelta(days=1), gender=1
    )
    failed = ["VRF1", "VRF2", "VRF3", "VRF5", "VRF7", "VRF8"]
    assert (answer.ResponseCode, flags(answer)) == ("WSVRC005", failed)
    # Not a match: even a merged ULN's master is not revealed, and no register value is in the answer.
    assert serialize_object(answer) == {
        "ResponseCode": "WSVRC005",
        "Uln": learners["merged"],
        "MasterUln": None,
        "FailureFlags": {"FailureFlag": failed},
    }


def test_a_valid_uln_not_on_the_register_is_not_found(soap: Any, live_wiring: Any) -> None:
    answer = verify(soap, unregistered_uln(live_wiring), "Niamh", "Kelly")
    assert (answer.ResponseCode, flags(answer), answer.MasterUln) == ("WSVRC006", [], None)


def test_any_organisations_ao_user_may_verify_and_each_verification_is_audited(
    soap: Any, live_wiring: Any, learners: dict[str, str]
) -> None:
    answer = verify(soap, learners["master"], "Niamh", "Ó Súilleabháin", caller=DEMO2)
    assert answer.ResponseCode == "WSVRC001"
    with live_wiring.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT username, operation, after FROM audit_events WHERE operation = 'VerifyLearner'"
                " ORDER BY id DESC"
            )
        ).first()
    assert (row.username, row.operation) == ("demo2.edc", "VerifyLearner")
    assert json.loads(row.after) == {"Uln": learners["master"], "ResponseCode": "WSVRC001"}


REFUSALS = [
    ("WSEC0136", {"uln": "1234567890"}, "ULN is not valid"),
    ("WSEC0136", {"uln": "12345"}, "ULN is not valid"),
    ("WSEC0103", {"givenName": "  "}, "GivenName is required"),
    ("WSEC0103", {"familyName": ""}, "FamilyName is required"),
    ("WSEC0103", {"familyName": "X" * 36}, "FamilyName is longer than 35 characters"),
    ("WSEC0103", {"givenName": "Nia\x85mh"}, "GivenName contains a character that cannot be stored"),
    ("WSEC0102", {"dateOfBirth": date.today() + timedelta(days=2)}, "DateOfBirth cannot be in the future"),
    ("WSEC0103", {"gender": 7}, "Gender must be 0 (unknown), 1 (male), 2 (female) or 9"),
    ("WSEC0006", {"invokingUser": LRS}, "Insufficient access"),
]


@pytest.mark.parametrize(
    ("code", "change", "says"),
    REFUSALS,
    ids=[
        "check digit",
        "too short",
        "blank given name",
        "empty family name",
        "family name too long",
        "control character",
        "future date of birth",
        "unknown gender",
        "LRS support",
    ],
)
def test_a_bad_verification_request_is_refused_with_a_clear_fault_and_changes_nothing(
    soap: Any, live_wiring: Any, learners: dict[str, str], code: str, change: dict[str, Any], says: str
) -> None:
    request = {
        "invokingUser": DEMO1,
        "uln": learners["master"],
        "givenName": "Niamh",
        "familyName": "Ó Súilleabháin",
        **change,
    }
    before = db_state(live_wiring.engine)
    fault = expect_fault(code, soap.VerifyLearner, **request)
    assert says in fault_message(fault)
    assert db_state(live_wiring.engine) == before


def test_a_wrong_password_is_refused_before_anything_is_looked_up(
    soap: Any, live_wiring: Any, learners: dict[str, str]
) -> None:
    before = db_state(live_wiring.engine)
    expect_fault(
        "WSEC0003",
        soap.VerifyLearner,
        invokingUser={**DEMO1, "OrgPassword": "not the password"},
        uln=learners["master"],
        givenName="Niamh",
        familyName="Ó Súilleabháin",
    )
    after = db_state(live_wiring.engine)
    # Only the failed login is counted (login throttling); no audit event, no learner read recorded.
    assert {t: rows for t, rows in after.items() if t != "login_failures"} == {
        t: rows for t, rows in before.items() if t != "login_failures"
    }


# -- GetLearnerAchievements of merged ULNs ----------------------------------------------------------------


def achievement_ids(result: Any) -> set[int]:
    return {a.AchievementId for a in result.Achievements.AchievementSummary} if result.Achievements else set()


def test_a_masters_achievements_include_those_of_the_ulns_merged_into_it_and_the_merged_uln_answers_for_it(
    soap: Any, live_wiring: Any
) -> None:
    master = register(live_wiring, "Ava", "Lindqvist", previous="Berg")
    merged = register(live_wiring, "Ava", "Berg", merged_into=master)
    own = create_id(soap, uln=master, names=("Ava", "Lindqvist"), reference="J/602/3521")
    before_merge = create_id(soap, uln=merged, names=("Ava", "Berg"), reference="K/501/5773")
    another_aos = create_id(soap, DEMO2, uln=merged, names=("Ava", "Berg"), reference="600/1166/X")

    for asked in (master, merged):
        found = soap.GetLearnerAchievements(invokingUser=DEMO1, uln=asked)
        assert (found.Uln, found.GivenName, found.FamilyName) == (master, "Ava", "Lindqvist")
        assert found.TotalCount == 2
        assert achievement_ids(found) == {own, before_merge}
        assert {a.Uln for a in found.Achievements.AchievementSummary} == {master, merged}
    theirs = soap.GetLearnerAchievements(invokingUser=DEMO2, uln=master)
    assert (theirs.TotalCount, achievement_ids(theirs)) == (1, {another_aos})
