"""The AO's Event Data Challenge operations over SOAP (seed guide sections 2 and 4.1): list by status,
process, record a decision. The demo EDCs are shared, so each test raises EDCs of its own (written directly
into the database) against achievements it created."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from support.dbstate import RECORD_TABLES, db_state
from support.demo import GRACE, JAMES
from support.records import add_edc, add_learner, create, create_id, max_id
from support.soap import DEMO1, expect_fault

from lrs_ws.domain import model
from lrs_ws.domain.clock import utcnow


def listed(result: Any) -> list[Any]:
    return list(result.EventDataChallenges.EventDataChallenge) if result.EventDataChallenges else []


def edc_row(live_wiring: Any, reference: str) -> Any:
    with live_wiring.uow_factory() as uow:
        edc = uow.edcs.get(model.parse_edc_reference(reference), None)
        assert edc is not None
        return edc


def refused(live_wiring: Any, code: str, call: Any, **kwargs: Any) -> Any:
    before = db_state(live_wiring.engine, RECORD_TABLES)
    fault = expect_fault(code, call, **kwargs)
    assert db_state(live_wiring.engine, RECORD_TABLES) == before
    return fault


# -- ListEventDataChallenges -----------------------------------------------------------------------------


def test_the_list_filters_by_status_and_counts_every_match(soap: Any, live_wiring: Any) -> None:
    totals = {
        s: soap.ListEventDataChallenges(invokingUser=DEMO1, status=s).TotalCount for s in model.EDC_STATUSES
    }
    everything = soap.ListEventDataChallenges(invokingUser=DEMO1).TotalCount
    mine = {s: add_edc(live_wiring, create_id(soap), s) for s in model.EDC_STATUSES}
    for status in model.EDC_STATUSES:
        result = soap.ListEventDataChallenges(invokingUser=DEMO1, status=status, pageSize=500)
        assert result.TotalCount == totals[status] + 1
        assert {e.Status for e in listed(result)} == {status}
        assert mine[status] in [e.Reference for e in listed(result)]
    assert soap.ListEventDataChallenges(invokingUser=DEMO1).TotalCount == everything + 3


def test_an_edc_in_the_list_shows_the_portals_columns(soap: Any, live_wiring: Any) -> None:
    made = create(soap, uln=GRACE)
    reference = add_edc(live_wiring, made.AchievementId)
    entry = next(
        e
        for e in listed(soap.ListEventDataChallenges(invokingUser=DEMO1, status="New", pageSize=500))
        if e.Reference == reference
    )
    assert (entry.Uln, entry.GivenName, entry.FamilyName) == (GRACE, "Grace", "Okafor")
    assert entry.AchievementId == made.AchievementId
    assert entry.Status == "New" and entry.Decision is None and entry.DateResolved is None
    assert (entry.DueDate - entry.DateRaised.date()).days == 35
    assert entry.DaysOpen == 0 and entry.Overdue is False


def test_the_list_is_newest_first_and_pages_through_every_edc(soap: Any, live_wiring: Any) -> None:
    first, second = (add_edc(live_wiring, create_id(soap)) for _ in range(2))
    everything = soap.ListEventDataChallenges(invokingUser=DEMO1, status="New", pageSize=500)
    references = [e.Reference for e in listed(everything)]
    assert references[:2] == [second, first]
    paged: list[str] = []
    pages = -(-everything.TotalCount // 2)
    for n in range(1, pages + 1):
        page = soap.ListEventDataChallenges(invokingUser=DEMO1, status="New", pageNumber=n, pageSize=2)
        assert page.TotalCount == everything.TotalCount and 1 <= len(listed(page)) <= 2
        paged += [e.Reference for e in listed(page)]
    assert paged == references
    beyond = soap.ListEventDataChallenges(invokingUser=DEMO1, status="New", pageNumber=pages + 1, pageSize=2)
    assert listed(beyond) == [] and beyond.TotalCount == everything.TotalCount


@pytest.mark.parametrize("status", ["Open", "new", "Closed"])
def test_an_unknown_status_is_refused(soap: Any, live_wiring: Any, status: str) -> None:
    fault = refused(live_wiring, "WSEC0103", soap.ListEventDataChallenges, invokingUser=DEMO1, status=status)
    assert "New, InProgress, Complete" in fault.message


@pytest.mark.parametrize("size", [0, 501])
def test_a_page_size_outside_one_to_five_hundred_is_refused(soap: Any, live_wiring: Any, size: int) -> None:
    refused(live_wiring, "WSEC0103", soap.ListEventDataChallenges, invokingUser=DEMO1, pageSize=size)


# -- ProcessEventDataChallenge ---------------------------------------------------------------------------


def test_processing_a_new_edc_shows_its_details_and_makes_it_in_progress(soap: Any, live_wiring: Any) -> None:
    made = create(soap, grade="Pass")
    reference = add_edc(live_wiring, made.AchievementId)
    version = edc_row(live_wiring, reference).version
    details = soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=reference)
    assert details.Reference == reference and details.Status == "InProgress"
    assert (details.ProblemType, details.RecommendedAction, details.SuppliedValue) == (
        "GradeIncorrect",
        "EditGrade",
        "Merit",
    )
    assert details.Description == "The grade should be Merit"
    assert details.Achievement.AchievementId == made.AchievementId
    assert details.Achievement.Grade == "Pass" and details.Achievement.UnderDataChallenge == "Y"
    stored = edc_row(live_wiring, reference)
    assert stored.status == "InProgress" and stored.version == version + 1
    events = soap.GetAchievementHistory(
        invokingUser=DEMO1, achievementId=made.AchievementId
    ).Events.AuditEntry
    assert events[-1].Operation == "ProcessEventDataChallenge"
    assert json.loads(events[-1].Before)["Status"] == "New"
    assert json.loads(events[-1].After)["Status"] == "InProgress"


@pytest.mark.parametrize("status", [model.EDC_IN_PROGRESS, model.EDC_COMPLETE])
def test_processing_an_edc_that_is_not_new_changes_nothing(soap: Any, live_wiring: Any, status: str) -> None:
    reference = add_edc(live_wiring, create_id(soap), status)
    before = db_state(live_wiring.engine, RECORD_TABLES)
    assert soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=reference).Status == status
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


def test_an_edc_reference_is_read_case_insensitively(soap: Any, live_wiring: Any) -> None:
    reference = add_edc(live_wiring, create_id(soap))
    assert (
        soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=reference.lower()).Reference == reference
    )


@pytest.mark.parametrize("reference", ["missing", "EDC", "not-an-edc-reference"])
def test_processing_something_that_is_no_edc_is_refused_with_wsec0105(
    soap: Any, live_wiring: Any, reference: str
) -> None:
    missing = {"missing": f"EDC{max_id(live_wiring, 'event_data_challenges') + 1000:07d}"}.get(
        reference, reference
    )
    refused(live_wiring, "WSEC0105", soap.ProcessEventDataChallenge, invokingUser=DEMO1, reference=missing)


# -- RecordEventDataChallengeDecision --------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["Accepted", "Rejected"])
@pytest.mark.parametrize("start", [model.EDC_NEW, model.EDC_IN_PROGRESS])
def test_a_decision_is_recorded_with_its_reason(
    soap: Any, live_wiring: Any, decision: str, start: str
) -> None:
    achievement_id = create_id(soap)
    reference = add_edc(live_wiring, achievement_id, start)
    reason = f"{decision} after checking the centre's records"
    result = soap.RecordEventDataChallengeDecision(
        invokingUser=DEMO1, reference=reference, decision=decision, reason=reason
    )
    assert (result.Decision, result.DecisionReason, result.Status) == (decision, reason, "InProgress")
    assert result.Achievement.AchievementId == achievement_id
    stored = edc_row(live_wiring, reference)
    assert (stored.decision, stored.decision_reason, stored.status) == (decision, reason, "InProgress")
    assert stored.decided_at is not None
    last = soap.GetAchievementHistory(invokingUser=DEMO1, achievementId=achievement_id).Events.AuditEntry[-1]
    assert last.Operation == "RecordEventDataChallengeDecision"
    assert json.loads(last.After)["Decision"] == decision


def test_a_second_decision_is_refused_with_wsec0106(soap: Any, live_wiring: Any) -> None:
    reference = add_edc(live_wiring, create_id(soap))
    soap.RecordEventDataChallengeDecision(
        invokingUser=DEMO1, reference=reference, decision="Accepted", reason="ok"
    )
    refused(
        live_wiring,
        "WSEC0106",
        soap.RecordEventDataChallengeDecision,
        invokingUser=DEMO1,
        reference=reference,
        decision="Rejected",
        reason="changed my mind",
    )
    assert edc_row(live_wiring, reference).decision == "Accepted"


def test_deciding_a_complete_edc_is_refused_with_wsec0106(soap: Any, live_wiring: Any) -> None:
    reference = add_edc(live_wiring, create_id(soap), model.EDC_COMPLETE)
    refused(
        live_wiring,
        "WSEC0106",
        soap.RecordEventDataChallengeDecision,
        invokingUser=DEMO1,
        reference=reference,
        decision="Accepted",
        reason="late",
    )


@pytest.mark.parametrize("decision", ["Maybe", "accept", ""])
def test_an_unknown_decision_is_refused(soap: Any, live_wiring: Any, decision: str) -> None:
    reference = add_edc(live_wiring, create_id(soap))
    fault = refused(
        live_wiring,
        "WSEC0103",
        soap.RecordEventDataChallengeDecision,
        invokingUser=DEMO1,
        reference=reference,
        decision=decision,
        reason="because",
    )
    assert "Accepted or Rejected" in fault.message


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_decision_with_an_empty_reason_is_refused(soap: Any, live_wiring: Any, reason: str) -> None:
    reference = add_edc(live_wiring, create_id(soap))
    refused(
        live_wiring,
        "WSEC0103",
        soap.RecordEventDataChallengeDecision,
        invokingUser=DEMO1,
        reference=reference,
        decision="Rejected",
        reason=reason,
    )


def test_a_decision_with_a_stale_version_is_refused_with_wsrc0013(soap: Any, live_wiring: Any) -> None:
    reference = add_edc(live_wiring, create_id(soap))
    version = edc_row(live_wiring, reference).version
    soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=reference)
    refused(
        live_wiring,
        "WSRC0013",
        soap.RecordEventDataChallengeDecision,
        invokingUser=DEMO1,
        reference=reference,
        decision="Rejected",
        reason="stale",
        expectedVersion=version,
    )


def test_deciding_a_missing_edc_is_refused_with_wsec0105(soap: Any, live_wiring: Any) -> None:
    missing = f"EDC{max_id(live_wiring, 'event_data_challenges') + 1000:07d}"
    refused(
        live_wiring,
        "WSEC0105",
        soap.RecordEventDataChallengeDecision,
        invokingUser=DEMO1,
        reference=missing,
        decision="Rejected",
        reason="no",
    )


def test_an_edc_raised_six_weeks_ago_is_overdue(soap: Any, live_wiring: Any) -> None:
    raised = utcnow() - timedelta(days=42)
    reference = add_edc(live_wiring, create_id(soap), raised_at=raised)
    details = soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=reference)
    assert details.DueDate == (raised + timedelta(weeks=5)).date()
    assert details.DaysOpen == 42 and details.Overdue is True


# -- the seed guide's section 4, start to finish ---------------------------------------------------------


def test_an_edc_user_works_through_the_seed_guide(soap: Any, live_wiring: Any) -> None:
    """4.1 list and process, 2 decide, 4.2 find the learner's achievements, 4.3 edit the grade, 4.5 move one
    to James Pickles, 4.4 delete another."""
    uln = add_learner(live_wiring, "Sid", "Guide")
    names = ("Sid", "Guide")
    graded = create(soap, uln=uln, names=names, reference="J/602/3521", grade="Pass", award=date(2010, 1, 3))
    misplaced = create(soap, uln=uln, names=names, reference="J/602/3521", award=date(2010, 1, 2))
    duplicate = create(soap, uln=uln, names=names, reference="J/602/3521", award=date(2010, 1, 1))
    references = [
        add_edc(live_wiring, graded.AchievementId),
        add_edc(
            live_wiring,
            misplaced.AchievementId,
            problem_type="NotLearnersAchievement",
            recommended_action="TransferToLearner",
            supplied_value=JAMES,
        ),
        add_edc(
            live_wiring,
            duplicate.AchievementId,
            problem_type="Duplicate",
            recommended_action="Delete",
            supplied_value="",
        ),
    ]
    new = [
        e.Reference
        for e in listed(soap.ListEventDataChallenges(invokingUser=DEMO1, status="New", pageSize=500))
    ]
    assert set(references) <= set(new)
    for reference in references:
        details = soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=reference)
        assert details.Status == "InProgress"
        soap.RecordEventDataChallengeDecision(
            invokingUser=DEMO1, reference=reference, decision="Accepted", reason="Checked with the centre"
        )
    plr = soap.GetLearnerAchievements(invokingUser=DEMO1, uln=uln)
    assert plr.TotalCount == 3 and (plr.GivenName, plr.FamilyName) == names
    summary = soap.GetAchievement(invokingUser=DEMO1, achievementId=graded.AchievementId)
    soap.EditAchievementGrade(
        invokingUser=DEMO1,
        achievementId=summary.AchievementId,
        newGrade="Merit",
        expectedVersion=summary.Version,
    )
    target = soap.FindLearnerByUln(invokingUser=DEMO1, uln=JAMES)
    assert (target.GivenName, target.FamilyName) == ("James", "Pickles")
    soap.TransferAchievement(invokingUser=DEMO1, achievementId=misplaced.AchievementId, newUln=target.Uln)
    soap.DeleteAchievement(invokingUser=DEMO1, achievementId=duplicate.AchievementId)
    left = soap.GetLearnerAchievements(invokingUser=DEMO1, uln=uln)
    assert left.TotalCount == 1
    assert left.Achievements.AchievementSummary[0].Grade == "Merit"
    in_progress = listed(soap.ListEventDataChallenges(invokingUser=DEMO1, status="InProgress", pageSize=500))
    assert {e.Reference: e.Decision for e in in_progress if e.Reference in references} == dict.fromkeys(
        references, "Accepted"
    )
