"""The EDC lifecycle over SOAP against the live server: LRS Business Support raises, the AO processes,
decides and corrects, LRS Business Support closes. Each test creates its own achievements (the demo
database is shared)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from support.dbstate import EDC_TABLES, db_state
from support.demo import GRACE, OWEN
from support.soap import DEMO1, DEMO2, LRS, expect_fault, fault_message


def create(soap: Any, grade: str = "Pass", uln: str = OWEN) -> int:
    names = {OWEN: ("Owen", "Jones"), GRACE: ("Grace", "Okafor")}[uln]
    result = soap.CreateAchievement(
        invokingUser=DEMO1,
        submissionType="Final",
        achievement={
            "AchievementAwardDate": datetime(2016, 5, 1),
            "Action": 1,
            "ActionDate": datetime(2016, 5, 2),
            "GivenName": names[0],
            "FamilyName": names[1],
            "Grade": grade,
            "MisIdentifier": uuid.uuid4().hex[:16],
            "ProviderUkprn": "10000001",
            "Uln": uln,
            "UnitOrQualificationReferenceNumber": "K/501/5773",
        },
    )
    return int(result.AchievementId)


def raise_edc(
    soap: Any,
    achievement_id: int,
    action: str = "EditGrade",
    value: str | None = "Merit",
    problem: str = "GradeIncorrect",
    user: dict[str, str] = LRS,
) -> Any:
    return soap.RaiseEventDataChallenge(
        invokingUser=user,
        achievementId=achievement_id,
        problemType=problem,
        description="Our records show a different outcome.",
        recommendedAction=action,
        suppliedValue=value,
    )


def listed(soap: Any, reference: str) -> Any:
    result = soap.ListEventDataChallenges(invokingUser=DEMO1, pageSize=500)
    return next(e for e in result.EventDataChallenges.EventDataChallenge if e.Reference == reference)


def flag_in_learner_list(soap: Any, achievement_id: int, uln: str = OWEN) -> str:
    found = soap.GetLearnerAchievements(invokingUser=DEMO1, uln=uln, pageSize=500)
    return next(
        a.UnderDataChallenge
        for a in found.Achievements.AchievementSummary
        if a.AchievementId == achievement_id
    )


def test_an_accepted_edc_closes_once_the_ao_has_edited_the_grade_to_the_supplied_value(
    soap: Any, live_wiring: Any
) -> None:
    a_id = create(soap)
    edc = raise_edc(soap, a_id)
    assert edc.Status == "New" and edc.Reference.startswith("EDC") and edc.Decision is None
    assert edc.Uln == OWEN and (edc.GivenName, edc.FamilyName) == ("Owen", "Jones")
    assert edc.DueDate == edc.DateRaised.date() + timedelta(weeks=5)
    assert edc.DaysOpen == 0 and edc.Overdue is False and edc.ActionVerified is False
    assert soap.GetAchievement(invokingUser=DEMO1, achievementId=a_id).UnderDataChallenge == "Y"
    assert flag_in_learner_list(soap, a_id) == "Y"

    processed = soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=edc.Reference)
    assert processed.Status == "InProgress" and processed.SuppliedValue == "Merit"
    assert processed.Achievement.AchievementId == a_id and processed.Achievement.Grade == "Pass"
    decided = soap.RecordEventDataChallengeDecision(
        invokingUser=DEMO1, reference=edc.Reference, decision="Accepted", reason="Our records agree."
    )
    assert decided.Decision == "Accepted" and decided.ActionVerified is False

    before = db_state(live_wiring.engine, EDC_TABLES)
    fault = expect_fault("WSEC0110", soap.CloseEventDataChallenge, invokingUser=LRS, reference=edc.Reference)
    assert "grade changed to 'Merit'" in fault_message(fault)
    assert db_state(live_wiring.engine, EDC_TABLES) == before

    soap.EditAchievementGrade(invokingUser=DEMO1, achievementId=a_id, newGrade="Merit")
    assert listed(soap, edc.Reference).ActionVerified is True

    closed = soap.CloseEventDataChallenge(invokingUser=LRS, reference=edc.Reference)
    assert closed.Status == "Complete" and closed.DateResolved is not None and closed.ActionVerified is True
    assert soap.GetAchievement(invokingUser=DEMO1, achievementId=a_id).UnderDataChallenge == "N"
    assert flag_in_learner_list(soap, a_id) == "N"
    history = soap.GetAchievementHistory(invokingUser=DEMO1, achievementId=a_id)
    operations = [ev.Operation for ev in history.Events.AuditEntry]
    for op in (
        "RaiseEventDataChallenge",
        "ProcessEventDataChallenge",
        "RecordEventDataChallengeDecision",
        "EditGrade",
        "EventDataChallengeActionVerified",
        "CloseEventDataChallenge",
    ):
        assert op in operations


def test_an_accepted_transfer_is_verified_after_the_ao_moves_the_achievement(soap: Any) -> None:
    a_id = create(soap)
    edc = raise_edc(soap, a_id, "TransferToLearner", GRACE, "NotLearnersAchievement")
    soap.RecordEventDataChallengeDecision(
        invokingUser=DEMO1, reference=edc.Reference, decision="Accepted", reason="Wrong learner."
    )
    expect_fault("WSEC0110", soap.CloseEventDataChallenge, invokingUser=LRS, reference=edc.Reference)
    soap.TransferAchievement(invokingUser=DEMO1, achievementId=a_id, newUln=GRACE)
    assert soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=edc.Reference).ActionVerified is True
    assert soap.CloseEventDataChallenge(invokingUser=LRS, reference=edc.Reference).Status == "Complete"


def test_a_rejected_edc_closes_at_once(soap: Any) -> None:
    a_id = create(soap)
    edc = raise_edc(soap, a_id, "Delete", None, "Duplicate")
    soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=edc.Reference)
    soap.RecordEventDataChallengeDecision(
        invokingUser=DEMO1,
        reference=edc.Reference,
        decision="Rejected",
        reason="It is a resit, not a duplicate.",
    )
    closed = soap.CloseEventDataChallenge(invokingUser=LRS, reference=edc.Reference)
    assert (closed.Status, closed.Decision) == ("Complete", "Rejected") and closed.DateResolved is not None
    assert soap.GetAchievement(invokingUser=DEMO1, achievementId=a_id).UnderDataChallenge == "N"


def _withdrawn(soap: Any) -> int:
    a_id = create(soap)
    soap.WithdrawAchievement(invokingUser=DEMO1, achievementId=a_id, reason="resit")
    return a_id


def _deleted(soap: Any) -> int:
    a_id = create(soap)
    soap.DeleteAchievement(invokingUser=DEMO1, achievementId=a_id)
    return a_id


RAISE_REFUSALS = [
    ("an AO user raising", "WSEC0006", {"user": DEMO1}),
    ("a withdrawn achievement", "WSEC0106", {"achievement": _withdrawn}),
    ("a deleted achievement", "WSEC0105", {"achievement": _deleted}),
    ("a grade over 20 characters", "WSEC0101", {"value": "Distinction with merit"}),
    (
        "an award date in the future",
        "WSEC0102",
        {"action": "UpdateAwardDate", "value": (date.today() + timedelta(days=3)).isoformat()},
    ),
    ("an award date that is not a date", "WSEC0103", {"action": "UpdateAwardDate", "value": "next week"}),
    ("an invalid ULN", "WSEC0136", {"action": "TransferToLearner", "value": "1234567890"}),
    ("the achievement's own ULN", "WSEC0107", {"action": "TransferToLearner", "value": OWEN}),
    ("an unknown recommended action", "WSEC0103", {"action": "Rewrite"}),
]


@pytest.mark.parametrize(("case", "code", "changes"), RAISE_REFUSALS, ids=[r[0] for r in RAISE_REFUSALS])
def test_an_invalid_raise_is_refused_with_a_fault_and_changes_nothing(
    soap: Any, live_wiring: Any, case: str, code: str, changes: dict[str, Any]
) -> None:
    target = changes.get("achievement")
    a_id = target(soap) if callable(target) else create(soap)
    before = db_state(live_wiring.engine, EDC_TABLES)
    fault = expect_fault(
        code,
        raise_edc,
        soap,
        a_id,
        changes.get("action", "EditGrade"),
        changes.get("value", "Merit"),
        user=changes.get("user", LRS),
    )
    assert fault_message(fault)
    assert db_state(live_wiring.engine, EDC_TABLES) == before


def test_illegal_transitions_are_refused_and_change_nothing(soap: Any, live_wiring: Any) -> None:
    edc = raise_edc(soap, create(soap))
    before = db_state(live_wiring.engine, EDC_TABLES)
    fault = expect_fault("WSEC0106", soap.CloseEventDataChallenge, invokingUser=LRS, reference=edc.Reference)
    assert "no decision" in fault_message(fault)
    expect_fault("WSEC0105", soap.ProcessEventDataChallenge, invokingUser=DEMO2, reference=edc.Reference)
    expect_fault(
        "WSEC0105",
        soap.RecordEventDataChallengeDecision,
        invokingUser=DEMO2,
        reference=edc.Reference,
        decision="Accepted",
        reason="not ours",
    )
    expect_fault("WSEC0006", soap.CloseEventDataChallenge, invokingUser=DEMO1, reference=edc.Reference)
    expect_fault("WSEC0006", soap.ProcessEventDataChallenge, invokingUser=LRS, reference=edc.Reference)
    assert db_state(live_wiring.engine, EDC_TABLES) == before

    soap.RecordEventDataChallengeDecision(
        invokingUser=DEMO1, reference=edc.Reference, decision="Rejected", reason="no"
    )
    soap.CloseEventDataChallenge(invokingUser=LRS, reference=edc.Reference)
    before = db_state(live_wiring.engine, EDC_TABLES)
    fault = expect_fault("WSEC0106", soap.CloseEventDataChallenge, invokingUser=LRS, reference=edc.Reference)
    assert "already Complete" in fault_message(fault)
    expect_fault(
        "WSEC0106",
        soap.RecordEventDataChallengeDecision,
        invokingUser=DEMO1,
        reference=edc.Reference,
        decision="Accepted",
        reason="changed our mind",
    )
    assert db_state(live_wiring.engine, EDC_TABLES) == before
