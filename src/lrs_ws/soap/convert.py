"""Domain objects to Spyne result types."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

from lrs_ws.domain import feed, model
from lrs_ws.service.records import FIELD_NAMES, AchievementRecord
from lrs_ws.soap import portal_types as t


def achievement_summary(a: model.AchievementData) -> Any:
    """An AchievementSummary as a plain record: spyne writes any object by its members' names, and building
    its ComplexModel costs more than writing it (lrs_ws.soap.fast_results)."""
    return SimpleNamespace(
        AchievementId=a.id,
        Uln=a.uln,
        Subject=a.title,
        ReferenceNumber=a.reference,
        Type=a.aim_type,
        Level=a.level,
        Grade=a.grade,
        AwardDate=a.award_date,
        LanguageForAssessment=a.language,
        ProviderUkprn=a.provider_ukprn,
        MisIdentifier=a.mis_identifier,
        Status=a.status,
        Withdrawn=a.withdrawn,
        UnderDataChallenge="Y" if a.under_challenge else "N",
        Version=a.version,
    )


def edc(
    e: model.EventDataChallenge, today: date, achievement: model.Achievement | None = None
) -> t.EventDataChallenge:
    return t.EventDataChallenge(
        Reference=e.reference,
        AchievementId=e.achievement_id,
        Uln=e.uln,
        GivenName=e.given_name,
        FamilyName=e.family_name,
        ProblemType=e.problem_type,
        Description=e.description,
        RecommendedAction=e.recommended_action,
        SuppliedValue=e.supplied_value,
        Status=e.status,
        Decision=e.decision,
        DecisionReason=e.decision_reason,
        DateRaised=e.raised_at,
        DateResolved=e.resolved_at,
        DueDate=e.due_date,
        DaysOpen=e.days_open(today),
        Overdue=e.overdue(today),
        ActionVerified=e.action_verified,
        Version=e.version,
        Achievement=achievement_summary(achievement) if achievement is not None else None,
    )


def achievement_record(achievement: Any) -> AchievementRecord:
    """The 15 fields of a received LRS `Achievement` as the record the use cases validate."""
    return AchievementRecord(**{name: getattr(achievement, name, None) for name in FIELD_NAMES})


def achievement_change(c: feed.Change) -> t.AchievementChange:
    return t.AchievementChange(
        Sequence=c.seq,
        ChangedAt=c.at,
        Kind=c.kind,
        Deleted=c.deleted,
        FromUln=c.from_uln,
        EdcReference=c.edc_reference,
        EdcStatus=c.edc_status,
        EdcDecision=c.edc_decision,
        EdcActionVerified=c.edc_action_verified,
        Achievement=achievement_summary(c.achievement),
    )
