"""This service's own result types (model namespace), mirroring the portal's screens."""

from __future__ import annotations

from typing import Any

from spyne import Array, Boolean, ComplexModel, Date, DateTime, Integer, Unicode

from lrs_ws.soap.namespaces import MODEL_NS

_REQ = {"min_occurs": 1, "nillable": False}


def _text(n: int, required: bool = False) -> Any:
    return Unicode(max_len=n, **_REQ) if required else Unicode(max_len=n)


class AchievementSummary(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("AchievementId", Integer(**_REQ)),
        ("Uln", _text(10, True)),
        ("Subject", _text(255, True)),
        ("ReferenceNumber", _text(12, True)),
        ("Type", _text(20)),
        ("Level", _text(20)),
        ("Grade", _text(20)),
        ("AwardDate", Date(**_REQ)),
        ("LanguageForAssessment", _text(50)),
        ("ProviderUkprn", _text(8)),
        ("MisIdentifier", _text(50)),
        ("Status", _text(12, True)),
        ("Withdrawn", Boolean(**_REQ)),
        ("UnderDataChallenge", _text(1, True)),
        ("Version", Integer(**_REQ)),
    ]


class LearnerName(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("Uln", _text(10, True)),
        ("GivenName", _text(35, True)),
        ("FamilyName", _text(35, True)),
    ]


class LearnerAchievements(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("Uln", _text(10, True)),
        ("GivenName", _text(35, True)),
        ("FamilyName", _text(35, True)),
        ("TotalCount", Integer(**_REQ)),
        ("Achievements", Array(AchievementSummary, type_name="ArrayOfAchievementSummary")),
    ]


class EventDataChallenge(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("Reference", _text(10, True)),
        ("AchievementId", Integer(**_REQ)),
        ("Uln", _text(10, True)),
        ("GivenName", _text(35)),
        ("FamilyName", _text(35)),
        ("ProblemType", _text(30, True)),
        ("Description", _text(1000)),
        ("RecommendedAction", _text(30, True)),
        ("SuppliedValue", _text(50)),
        ("Status", _text(12, True)),
        ("Decision", _text(10)),
        ("DecisionReason", _text(1000)),
        ("DateRaised", DateTime(**_REQ)),
        ("DateResolved", DateTime),
        ("DueDate", Date(**_REQ)),
        ("DaysOpen", Integer(**_REQ)),
        ("Overdue", Boolean(**_REQ)),
        ("ActionVerified", Boolean(**_REQ)),
        ("Version", Integer(**_REQ)),
        ("Achievement", AchievementSummary),
    ]


class EventDataChallengeList(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("TotalCount", Integer(**_REQ)),
        ("EventDataChallenges", Array(EventDataChallenge, type_name="ArrayOfEventDataChallenge")),
    ]


class AuditEntry(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("When", DateTime(**_REQ)),
        ("UserName", _text(100, True)),
        ("Operation", _text(60, True)),
        ("Before", Unicode),
        ("After", Unicode),
    ]


class AchievementHistory(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("AchievementId", Integer(**_REQ)),
        ("TotalCount", Integer(**_REQ)),
        ("Events", Array(AuditEntry, type_name="ArrayOfAuditEntry")),
    ]


class OperationResult(ComplexModel):
    """The answer of an operation that returns no record (DeleteAchievement)."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("ResponseCode", _text(20, True)),
        ("AchievementId", Integer(**_REQ)),
        ("Version", Integer(**_REQ)),
    ]
