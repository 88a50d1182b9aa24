"""Learner-achievement operations over SOAP against the live server (seed guide sections 4.2 to 4.5 and the
single-record Create / Withdraw / Reinstate), each happy path and each refusal. Every test works on records of
its own; every refusal shows that the database did not change."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import text
from support.dbstate import RECORD_TABLES, db_state
from support.demo import AMIRA, DEMO1_USER, DEMO_PASSWORD, JAMES, ORG1, TEST_LEARNER
from support.records import (
    achievement_row,
    add_learner,
    audit_count,
    create,
    create_id,
    unregistered_uln,
)
from support.soap import DEMO1, expect_fault, parse_fault


def items(result: Any) -> list[Any]:
    """The AchievementSummary items of a GetLearnerAchievements result (an empty page has none)."""
    return list(result.Achievements.AchievementSummary) if result.Achievements else []


def refused(live_wiring: Any, code: str, call: Any, **kwargs: Any) -> Any:
    """The call fails with `code` and every row of the touched tables is as it was."""
    before = db_state(live_wiring.engine, RECORD_TABLES)
    fault = expect_fault(code, call, **kwargs)
    assert db_state(live_wiring.engine, RECORD_TABLES) == before
    return fault


# -- GetLearnerAchievements ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sorted_learner(soap: Any, live_wiring: Any) -> tuple[str, list[Any]]:
    """A learner of their own with three DEMO01 achievements that differ in every sort key."""
    uln = add_learner(live_wiring, "Sam", "Sorter")
    names = ("Sam", "Sorter")
    made = [
        create(soap, uln=uln, names=names, reference="J/602/3521", grade="Merit", award=date(2012, 3, 1)),
        create(soap, uln=uln, names=names, reference="600/1166/X", grade="Pass", award=date(2011, 7, 9)),
        create(
            soap, uln=uln, names=names, reference="K/501/5773", grade="Distinction", award=date(2013, 1, 5)
        ),
    ]
    return uln, made


SORT_FIELDS = {
    "ReferenceNumber": "ReferenceNumber",
    "Type": "Type",
    "Level": "Level",
    "Grade": "Grade",
    "AwardDate": "AwardDate",
}


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("sort_by", list(SORT_FIELDS))
def test_a_learners_achievements_sort_by_every_key_in_both_directions(
    soap: Any, sorted_learner: tuple[str, list[Any]], sort_by: str, descending: bool
) -> None:
    uln, made = sorted_learner
    result = soap.GetLearnerAchievements(
        invokingUser=DEMO1, uln=uln, sortBy=sort_by, sortDescending=descending
    )
    field = SORT_FIELDS[sort_by]
    expected = sorted(made, key=lambda a: (getattr(a, field), a.AchievementId), reverse=descending)
    assert [a.AchievementId for a in items(result)] == [a.AchievementId for a in expected]
    assert result.TotalCount == 3


def test_with_no_sort_given_the_newest_award_comes_first(
    soap: Any, sorted_learner: tuple[str, list[Any]]
) -> None:
    uln, _ = sorted_learner
    result = soap.GetLearnerAchievements(invokingUser=DEMO1, uln=uln)
    dates = [a.AwardDate for a in items(result)]
    assert dates == sorted(dates, reverse=True)


def test_a_learners_achievements_come_with_the_learners_name_and_one_to_three_of_three(
    soap: Any, sorted_learner: tuple[str, list[Any]]
) -> None:
    uln, _ = sorted_learner
    result = soap.GetLearnerAchievements(invokingUser=DEMO1, uln=uln, pageNumber=1, pageSize=3)
    assert (result.Uln, result.GivenName, result.FamilyName) == (uln, "Sam", "Sorter")
    assert result.TotalCount == 3 and len(items(result)) == 3


def test_pages_split_the_list_and_a_page_beyond_the_end_is_empty(
    soap: Any, sorted_learner: tuple[str, list[Any]]
) -> None:
    uln, _ = sorted_learner

    def page(n: int) -> Any:
        return soap.GetLearnerAchievements(
            invokingUser=DEMO1, uln=uln, sortBy="AwardDate", sortDescending=False, pageNumber=n, pageSize=2
        )

    first, second, beyond = page(1), page(2), page(3)
    assert [a.AwardDate for a in items(first)] == [date(2011, 7, 9), date(2012, 3, 1)]
    assert [a.AwardDate for a in items(second)] == [date(2013, 1, 5)]
    assert items(beyond) == [] and beyond.TotalCount == 3


def test_the_demo_learner_shows_the_seed_guides_three_achievements_newest_first(soap: Any) -> None:
    result = soap.GetLearnerAchievements(
        invokingUser=DEMO1, uln=TEST_LEARNER, sortBy="AwardDate", sortDescending=True, pageSize=3
    )
    first = items(result)[0]
    assert first.Subject.startswith("Adapt and fit healthcare equipment")
    assert (first.ReferenceNumber, first.Type, first.Level) == ("J/602/3521", "Unit", "Level 3")
    assert first.AwardDate == date(2010, 1, 3)


@pytest.mark.parametrize("size", [0, 501, -1])
def test_page_sizes_outside_one_to_five_hundred_are_refused(soap: Any, live_wiring: Any, size: int) -> None:
    fault = refused(
        live_wiring,
        "WSEC0103",
        soap.GetLearnerAchievements,
        invokingUser=DEMO1,
        uln=TEST_LEARNER,
        pageSize=size,
    )
    assert "pageSize" in fault.message


def test_page_size_five_hundred_is_accepted(soap: Any) -> None:
    assert soap.GetLearnerAchievements(invokingUser=DEMO1, uln=TEST_LEARNER, pageSize=500).TotalCount >= 3


def test_page_number_zero_is_refused(soap: Any, live_wiring: Any) -> None:
    refused(
        live_wiring,
        "WSEC0103",
        soap.GetLearnerAchievements,
        invokingUser=DEMO1,
        uln=TEST_LEARNER,
        pageNumber=0,
    )


def test_an_unknown_sort_key_is_refused(soap: Any, live_wiring: Any) -> None:
    fault = refused(
        live_wiring,
        "WSEC0103",
        soap.GetLearnerAchievements,
        invokingUser=DEMO1,
        uln=TEST_LEARNER,
        sortBy="Colour",
    )
    assert "sortBy" in fault.message


def test_an_invalid_uln_is_refused_with_wsec0136(soap: Any, live_wiring: Any) -> None:
    refused(live_wiring, "WSEC0136", soap.GetLearnerAchievements, invokingUser=DEMO1, uln="3415521940")


def test_a_uln_not_on_the_register_is_refused_with_wsec0104(soap: Any, live_wiring: Any) -> None:
    refused(
        live_wiring,
        "WSEC0104",
        soap.GetLearnerAchievements,
        invokingUser=DEMO1,
        uln=unregistered_uln(live_wiring),
    )


# -- GetAchievement --------------------------------------------------------------------------------------


def test_get_achievement_shows_the_portals_summary(soap: Any) -> None:
    made = create(soap, uln=AMIRA, reference="J/602/3521", grade="Merit", award=date(2014, 6, 30))
    got = soap.GetAchievement(invokingUser=DEMO1, achievementId=made.AchievementId)
    assert got.AchievementId == made.AchievementId and got.Uln == AMIRA
    assert got.Subject.startswith("Adapt and fit healthcare equipment")
    assert (got.ReferenceNumber, got.Type, got.Level, got.Grade) == ("J/602/3521", "Unit", "Level 3", "Merit")
    assert got.AwardDate == date(2014, 6, 30) and got.ProviderUkprn == "10000001"
    assert (got.Status, got.Withdrawn, got.UnderDataChallenge, got.Version) == ("Final", False, "N", 1)


def test_get_achievement_of_a_missing_id_is_refused_with_wsec0105(soap: Any, live_wiring: Any) -> None:
    refused(live_wiring, "WSEC0105", soap.GetAchievement, invokingUser=DEMO1, achievementId=2_000_000_000)


# -- EditAchievementGrade --------------------------------------------------------------------------------


def test_editing_a_grade_to_twenty_characters_saves_it_and_audits_before_and_after(
    soap: Any, live_wiring: Any
) -> None:
    made = create(soap, grade="Pass")
    new_grade = "Distinction*Distinct"
    assert len(new_grade) == 20
    edited = soap.EditAchievementGrade(
        invokingUser=DEMO1, achievementId=made.AchievementId, newGrade=new_grade, expectedVersion=made.Version
    )
    assert edited.Grade == new_grade and edited.Version == made.Version + 1
    assert achievement_row(live_wiring, made.AchievementId)["grade"] == new_grade
    history = soap.GetAchievementHistory(invokingUser=DEMO1, achievementId=made.AchievementId)
    last = history.Events.AuditEntry[-1]
    assert last.Operation == "EditGrade" and last.UserName == "demo1.edc"
    assert json.loads(last.Before)["Grade"] == "Pass" and json.loads(last.After)["Grade"] == new_grade


def test_a_grade_can_be_added_where_there_was_none(soap: Any) -> None:
    made = create(soap, grade="")
    edited = soap.EditAchievementGrade(invokingUser=DEMO1, achievementId=made.AchievementId, newGrade="Merit")
    assert edited.Grade == "Merit"


def test_a_grade_of_twenty_one_characters_is_refused_with_wsec0101(soap: Any, live_wiring: Any) -> None:
    made = create(soap, grade="Pass")
    fault = refused(
        live_wiring,
        "WSEC0101",
        soap.EditAchievementGrade,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        newGrade="X" * 21,
    )
    assert "21" in fault.message and "20" in fault.message


def test_a_stale_expected_version_is_refused_with_wsrc0013(soap: Any, live_wiring: Any) -> None:
    made = create(soap, grade="Pass")
    soap.EditAchievementGrade(invokingUser=DEMO1, achievementId=made.AchievementId, newGrade="Merit")
    refused(
        live_wiring,
        "WSRC0013",
        soap.EditAchievementGrade,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        newGrade="Fail",
        expectedVersion=made.Version,
    )
    assert achievement_row(live_wiring, made.AchievementId)["grade"] == "Merit"


def test_editing_the_grade_of_a_missing_achievement_is_refused(soap: Any, live_wiring: Any) -> None:
    refused(
        live_wiring,
        "WSEC0105",
        soap.EditAchievementGrade,
        invokingUser=DEMO1,
        achievementId=2_000_000_000,
        newGrade="Pass",
    )


# -- DeleteAchievement -----------------------------------------------------------------------------------


def test_a_deleted_achievement_is_gone_from_the_plr_but_its_history_stays(
    soap: Any, live_wiring: Any
) -> None:
    uln = add_learner(live_wiring, "Dee", "Leted")
    made = create(soap, uln=uln, names=("Dee", "Leted"))
    gone = soap.DeleteAchievement(
        invokingUser=DEMO1, achievementId=made.AchievementId, expectedVersion=made.Version
    )
    assert gone.ResponseCode == "WSRC0000" and gone.AchievementId == made.AchievementId
    assert gone.Version == made.Version + 1
    expect_fault("WSEC0105", soap.GetAchievement, invokingUser=DEMO1, achievementId=made.AchievementId)
    assert soap.GetLearnerAchievements(invokingUser=DEMO1, uln=uln).TotalCount == 0
    history = soap.GetAchievementHistory(invokingUser=DEMO1, achievementId=made.AchievementId)
    assert [e.Operation for e in history.Events.AuditEntry] == ["Create", "Delete"]
    assert json.loads(history.Events.AuditEntry[-1].After)["Deleted"] is True
    assert achievement_row(live_wiring, made.AchievementId)["deleted"] in (True, 1)


def test_deleting_twice_is_refused_as_not_found(soap: Any, live_wiring: Any) -> None:
    made = create(soap)
    soap.DeleteAchievement(invokingUser=DEMO1, achievementId=made.AchievementId)
    refused(
        live_wiring, "WSEC0105", soap.DeleteAchievement, invokingUser=DEMO1, achievementId=made.AchievementId
    )


def test_deleting_with_a_stale_version_is_refused(soap: Any, live_wiring: Any) -> None:
    made = create(soap)
    refused(
        live_wiring,
        "WSRC0013",
        soap.DeleteAchievement,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        expectedVersion=made.Version + 5,
    )


# -- FindLearnerByUln ------------------------------------------------------------------------------------


def test_find_learner_gives_the_registers_names(soap: Any, live_wiring: Any) -> None:
    before = audit_count(live_wiring)
    found = soap.FindLearnerByUln(invokingUser=DEMO1, uln=JAMES)
    assert (found.Uln, found.GivenName, found.FamilyName) == (JAMES, "James", "Pickles")
    assert audit_count(live_wiring) == before + 1  # a sensitive read is audited


def test_find_learner_of_an_unknown_uln_is_refused_with_wsec0104(soap: Any, live_wiring: Any) -> None:
    refused(
        live_wiring, "WSEC0104", soap.FindLearnerByUln, invokingUser=DEMO1, uln=unregistered_uln(live_wiring)
    )


@pytest.mark.parametrize("uln", ["8659377484", "0659377485", "865937748", "86593774850", "86593A7485", ""])
def test_find_learner_of_an_invalid_uln_is_refused_with_wsec0136(
    soap: Any, live_wiring: Any, uln: str
) -> None:
    refused(live_wiring, "WSEC0136", soap.FindLearnerByUln, invokingUser=DEMO1, uln=uln)


# -- TransferAchievement ---------------------------------------------------------------------------------


def test_transferring_moves_the_achievement_to_james_pickles(soap: Any, live_wiring: Any) -> None:
    uln = add_learner(live_wiring, "Tom", "Transfer")
    made = create(soap, uln=uln, names=("Tom", "Transfer"))
    moved = soap.TransferAchievement(
        invokingUser=DEMO1, achievementId=made.AchievementId, newUln=JAMES, expectedVersion=made.Version
    )
    assert moved.Uln == JAMES and moved.Version == made.Version + 1
    assert soap.GetLearnerAchievements(invokingUser=DEMO1, uln=uln).TotalCount == 0
    james = soap.GetLearnerAchievements(invokingUser=DEMO1, uln=JAMES, pageSize=500)
    assert made.AchievementId in [a.AchievementId for a in items(james)]
    last = soap.GetAchievementHistory(invokingUser=DEMO1, achievementId=made.AchievementId).Events.AuditEntry[
        -1
    ]
    assert last.Operation == "Transfer"
    assert json.loads(last.Before)["Uln"] == uln and json.loads(last.After)["Uln"] == JAMES


def test_transferring_to_the_same_uln_is_refused_with_wsec0107(soap: Any, live_wiring: Any) -> None:
    made = create(soap, uln=AMIRA)
    refused(
        live_wiring,
        "WSEC0107",
        soap.TransferAchievement,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        newUln=AMIRA,
    )


def test_transferring_to_a_uln_not_on_the_register_is_refused_with_wsec0104(
    soap: Any, live_wiring: Any
) -> None:
    made = create(soap, uln=AMIRA)
    refused(
        live_wiring,
        "WSEC0104",
        soap.TransferAchievement,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        newUln=unregistered_uln(live_wiring),
    )


def test_transferring_to_an_invalid_uln_is_refused_with_wsec0136(soap: Any, live_wiring: Any) -> None:
    made = create(soap, uln=AMIRA)
    refused(
        live_wiring,
        "WSEC0136",
        soap.TransferAchievement,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        newUln="8659377486",
    )


def test_transferring_with_a_stale_version_is_refused(soap: Any, live_wiring: Any) -> None:
    made = create(soap, uln=AMIRA)
    refused(
        live_wiring,
        "WSRC0013",
        soap.TransferAchievement,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        newUln=JAMES,
        expectedVersion=made.Version - 1,
    )


# -- CreateAchievement -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "submission, status",
    [("Final", "Final"), ("Provisional", "Provisional"), ("final", "Final"), ("PROVISIONAL", "Provisional")],
)
def test_an_achievement_is_created_final_or_provisional(
    soap: Any, live_wiring: Any, submission: str, status: str
) -> None:
    made = create(soap, submission=submission, uln=AMIRA, reference="600/1166/X", grade="Merit")
    assert made.Status == status and made.Version == 1 and made.Uln == AMIRA
    assert (made.Type, made.Level) == ("Qualification", "Level 2")
    assert made.Subject == "Level 2 Certificate in Health and Social Care"
    assert achievement_row(live_wiring, made.AchievementId)["status"] == status
    history = soap.GetAchievementHistory(invokingUser=DEMO1, achievementId=made.AchievementId)
    assert [e.Operation for e in history.Events.AuditEntry] == ["Create"]


def test_a_final_submission_promotes_the_same_provisional_achievement(soap: Any) -> None:
    mis = f"PROMOTE-{uuid.uuid4().hex[:8]}"
    provisional = create(soap, submission="Provisional", mis=mis)
    final = create(soap, submission="Final", mis=mis)
    assert final.AchievementId == provisional.AchievementId and final.Status == "Final"


def test_creating_a_duplicate_is_refused_with_wsec0108(soap: Any, live_wiring: Any) -> None:
    made = create(soap)
    again = dict(uln=made.Uln, mis=made.MisIdentifier)
    before = db_state(live_wiring.engine, RECORD_TABLES)
    expect_fault("WSEC0108", create, soap, **again)
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


def test_a_bad_submission_type_is_refused_with_wsec0045(soap: Any, live_wiring: Any) -> None:
    before = db_state(live_wiring.engine, RECORD_TABLES)
    expect_fault("WSEC0045", create, soap, submission="Draft")
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


def test_an_award_date_in_the_future_is_refused_with_wsec0102(soap: Any, live_wiring: Any) -> None:
    before = db_state(live_wiring.engine, RECORD_TABLES)
    expect_fault("WSEC0102", create, soap, award=date.today() + timedelta(days=30))
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


def test_names_that_do_not_match_the_register_are_refused_with_wsec0111(soap: Any, live_wiring: Any) -> None:
    before = db_state(live_wiring.engine, RECORD_TABLES)
    fault = expect_fault("WSEC0111", create, soap, uln=JAMES, names=("Jim", "Pickles"))
    assert "names" in fault.message
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


def test_names_match_the_register_ignoring_case(soap: Any) -> None:
    assert create(soap, uln=JAMES, names=("JAMES", "pickles")).Uln == JAMES


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"uln": "8659377486", "names": ("James", "Pickles")}, "WSEC0136"),
        ({"reference": "NOT-A-REF"}, "WSEC0103"),
        ({"grade": "G" * 21}, "WSEC0101"),
        ({"action": 2}, "WSEC0103"),
    ],
    ids=["invalid-uln", "bad-reference", "long-grade", "update-action"],
)
def test_a_bad_record_is_refused_and_nothing_is_created(
    soap: Any, live_wiring: Any, changes: dict[str, Any], code: str
) -> None:
    before = db_state(live_wiring.engine, RECORD_TABLES)
    expect_fault(code, create, soap, **changes)
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


def test_creating_for_a_uln_not_on_the_register_is_refused_with_wsec0104(soap: Any, live_wiring: Any) -> None:
    before = db_state(live_wiring.engine, RECORD_TABLES)
    expect_fault("WSEC0104", create, soap, uln=unregistered_uln(live_wiring), names=("No", "Body"))
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


# -- WithdrawAchievement / ReinstateAchievement ----------------------------------------------------------


def test_withdraw_then_reinstate(soap: Any, live_wiring: Any) -> None:
    made = create(soap)
    withdrawn = soap.WithdrawAchievement(
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        reason="Entered in error",
        expectedVersion=made.Version,
    )
    assert withdrawn.Withdrawn is True and withdrawn.Version == made.Version + 1
    assert achievement_row(live_wiring, made.AchievementId)["withdrawn_reason"] == "Entered in error"
    reinstated = soap.ReinstateAchievement(
        invokingUser=DEMO1, achievementId=made.AchievementId, expectedVersion=withdrawn.Version
    )
    assert reinstated.Withdrawn is False and reinstated.Version == made.Version + 2
    operations = [
        e.Operation
        for e in soap.GetAchievementHistory(
            invokingUser=DEMO1, achievementId=made.AchievementId
        ).Events.AuditEntry
    ]
    assert operations == ["Create", "Withdraw", "Reinstate"]


def test_withdrawing_a_withdrawn_achievement_is_refused_with_wsec0106(soap: Any, live_wiring: Any) -> None:
    made = create(soap)
    soap.WithdrawAchievement(invokingUser=DEMO1, achievementId=made.AchievementId, reason="first")
    refused(
        live_wiring,
        "WSEC0106",
        soap.WithdrawAchievement,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        reason="second",
    )


def test_reinstating_an_active_achievement_is_refused_with_wsec0106(soap: Any, live_wiring: Any) -> None:
    made = create(soap)
    refused(
        live_wiring,
        "WSEC0106",
        soap.ReinstateAchievement,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
    )


def test_withdrawing_with_a_stale_version_is_refused(soap: Any, live_wiring: Any) -> None:
    made = create(soap)
    refused(
        live_wiring,
        "WSRC0013",
        soap.WithdrawAchievement,
        invokingUser=DEMO1,
        achievementId=made.AchievementId,
        reason="r",
        expectedVersion=made.Version + 1,
    )


# -- GetAchievementHistory -------------------------------------------------------------------------------


def test_the_history_has_one_event_per_change_with_before_and_after(soap: Any) -> None:
    achievement_id = create_id(soap, grade="Pass")
    soap.EditAchievementGrade(invokingUser=DEMO1, achievementId=achievement_id, newGrade="Merit")
    soap.WithdrawAchievement(invokingUser=DEMO1, achievementId=achievement_id, reason="error")
    soap.ReinstateAchievement(invokingUser=DEMO1, achievementId=achievement_id)
    soap.TransferAchievement(invokingUser=DEMO1, achievementId=achievement_id, newUln=JAMES)
    soap.GetAchievement(invokingUser=DEMO1, achievementId=achievement_id)  # a read is no change
    history = soap.GetAchievementHistory(invokingUser=DEMO1, achievementId=achievement_id)
    events = history.Events.AuditEntry
    assert history.AchievementId == achievement_id and history.TotalCount == len(events) == 5
    assert [e.Operation for e in events] == ["Create", "EditGrade", "Withdraw", "Reinstate", "Transfer"]
    assert all(e.UserName == "demo1.edc" and e.When is not None for e in events)
    assert events[0].Before is None
    for event in events[1:]:
        before, after = json.loads(event.Before), json.loads(event.After)
        changed = {k for k in after if after[k] != before[k]}
        assert (
            changed
            == {
                "EditGrade": {"Grade"},
                "Withdraw": {"Withdrawn"},
                "Reinstate": {"Withdrawn"},
                "Transfer": {"Uln"},
            }[event.Operation]
        )


def test_the_history_of_a_missing_achievement_is_refused(soap: Any, live_wiring: Any) -> None:
    refused(
        live_wiring, "WSEC0105", soap.GetAchievementHistory, invokingUser=DEMO1, achievementId=2_000_000_000
    )


@pytest.fixture(scope="module")
def long_history(soap: Any, live_wiring: Any) -> int:
    """An achievement of its own with 601 events: its Create and 600 grade changes, written directly (the
    audit trail a busy achievement builds up over years), each After naming its number."""
    achievement_id = create_id(soap, grade="0")
    with live_wiring.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (at, user_id, username, organisation_id, operation, achievement_id,"
                " before, after, request_id, client_certificate)"
                " SELECT at, user_id, username, organisation_id, 'EditGrade', achievement_id,"
                " :before, :after, '', '' FROM audit_events"
                " WHERE achievement_id = :a AND operation = 'Create'"
            ),
            [
                {
                    "a": achievement_id,
                    "before": json.dumps({"Grade": str(n - 1)}),
                    "after": json.dumps({"Grade": str(n)}),
                }
                for n in range(1, 601)
            ],
        )
    return achievement_id


def history_page(soap: Any, achievement_id: int, **paging: Any) -> tuple[int, list[Any]]:
    found = soap.GetAchievementHistory(invokingUser=DEMO1, achievementId=achievement_id, **paging)
    return found.TotalCount, list(found.Events.AuditEntry) if found.Events else []


def test_a_long_history_comes_fifty_events_a_page_oldest_first_with_its_total_count(
    soap: Any, long_history: int
) -> None:
    total, first = history_page(soap, long_history, pageNumber=1, pageSize=50)
    assert total == 601 and len(first) == 50
    assert first[0].Operation == "Create"
    assert [json.loads(e.After)["Grade"] for e in first[1:]] == [str(n) for n in range(1, 50)]
    assert history_page(soap, long_history) == (total, first)  # the defaults: page 1 of 50
    total, second = history_page(soap, long_history, pageNumber=2, pageSize=50)
    assert total == 601 and [json.loads(e.After)["Grade"] for e in second] == [str(n) for n in range(50, 100)]


def test_the_pages_of_a_long_history_hold_every_event_once(soap: Any, long_history: int) -> None:
    pages = [history_page(soap, long_history, pageNumber=n, pageSize=500) for n in (1, 2)]
    assert [total for total, _ in pages] == [601, 601]
    events = pages[0][1] + pages[1][1]
    assert len(pages[0][1]) == 500 and len(pages[1][1]) == 101
    assert [json.loads(e.After)["Grade"] for e in events[1:]] == [str(n) for n in range(1, 601)]
    assert history_page(soap, long_history, pageNumber=13, pageSize=50)[1][0].After == events[-1].After


def test_a_history_page_beyond_the_last_is_empty_and_still_counts_every_event(
    soap: Any, long_history: int
) -> None:
    assert history_page(soap, long_history, pageNumber=14, pageSize=50) == (601, [])
    assert history_page(soap, long_history, pageNumber=1_000_000, pageSize=500) == (601, [])


@pytest.mark.parametrize(
    ("paging", "named"),
    [
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": 501}, "pageSize"),
        ({"pageSize": -1}, "pageSize"),
        ({"pageNumber": 0}, "pageNumber"),
        ({"pageNumber": 1_000_001}, "pageNumber"),
    ],
)
def test_history_paging_outside_the_limits_is_refused_like_the_other_lists(
    soap: Any, live_wiring: Any, long_history: int, paging: dict[str, int], named: str
) -> None:
    fault = refused(
        live_wiring,
        "WSEC0103",
        soap.GetAchievementHistory,
        invokingUser=DEMO1,
        achievementId=long_history,
        **paging,
    )
    listed = expect_fault(
        "WSEC0103", soap.GetLearnerAchievements, invokingUser=DEMO1, uln=TEST_LEARNER, **paging
    )
    assert named in fault.message and fault.message == listed.message


@pytest.mark.parametrize("achievement_id", [0, -1, 2**31, 2**63, 10**30])
def test_ids_no_achievement_can_have_answer_not_found(
    soap: Any, live_wiring: Any, achievement_id: int
) -> None:
    refused(live_wiring, "WSEC0105", soap.GetAchievement, invokingUser=DEMO1, achievementId=achievement_id)
    refused(
        live_wiring,
        "WSEC0105",
        soap.EditAchievementGrade,
        invokingUser=DEMO1,
        achievementId=achievement_id,
        newGrade="P",
    )


# -- mandatory parameters --------------------------------------------------------------------------------

ENVELOPE = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:s="http://api.lrs.qcf.gov.uk/services" xmlns:m="http://api.lrs.qcf.gov.uk/model">
  <soap:Body><s:{{operation}}>
    <s:invokingUser><m:OrgPassword>{DEMO_PASSWORD}</m:OrgPassword><m:OrganisationRef>{ORG1}</m:OrganisationRef>
      <m:UserName>{DEMO1_USER}</m:UserName></s:invokingUser>{{parameters}}
  </s:{{operation}}></soap:Body></soap:Envelope>"""


@pytest.mark.parametrize(
    "operation, parameters",
    [
        ("GetAchievement", ""),
        ("EditAchievementGrade", "<s:achievementId>1</s:achievementId>"),
        ("FindLearnerByUln", ""),
        ("TransferAchievement", "<s:achievementId>1</s:achievementId>"),
        (
            "RecordEventDataChallengeDecision",
            "<s:reference>EDC0000001</s:reference><s:decision>Accepted</s:decision>",
        ),
        ("CreateAchievement", "<s:submissionType>Final</s:submissionType>"),
    ],
)
def test_a_request_without_a_mandatory_parameter_is_refused_with_wsec0001(
    live_server: Any, live_wiring: Any, operation: str, parameters: str
) -> None:
    before = db_state(live_wiring.engine, RECORD_TABLES)
    got = requests.post(
        live_server.soap_url,
        data=ENVELOPE.format(operation=operation, parameters=parameters).encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=10,
    )
    assert got.status_code == 500
    assert parse_fault(got.content)[1] == "WSEC0001"
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


def test_an_empty_new_grade_removes_the_grade(soap: Any) -> None:
    made = create(soap, grade="Pass")
    assert (
        soap.EditAchievementGrade(invokingUser=DEMO1, achievementId=made.AchievementId, newGrade="").Grade
        is None
    )
