"""This service's own result types for the portal's functions (achievements, EDCs, users), in the model
namespace and mirroring the portal's screens; the real LRS contract has no such types."""

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


class AchievementChange(ComplexModel):
    """One change of the organisation's feed: the achievement as the change left it; the EDC fields only
    for an EDC change; FromUln only for a transfer."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("Sequence", Integer(**_REQ)),
        ("ChangedAt", DateTime(**_REQ)),
        ("Kind", _text(30, True)),
        ("Deleted", Boolean(**_REQ)),
        ("FromUln", _text(10)),
        ("EdcReference", _text(10)),
        ("EdcStatus", _text(12)),
        ("EdcDecision", _text(10)),
        ("EdcActionVerified", Boolean),
        ("Achievement", AchievementSummary.customize(**_REQ)),
    ]


class AchievementChangeList(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("Changes", Array(AchievementChange, type_name="ArrayOfAchievementChange")),
        ("NextCursor", _text(200, True)),
        ("HasMore", Boolean(**_REQ)),
    ]


class UserSummary(ComplexModel):
    """A user as its organisation's AO_ADMIN sees it (nothing secret)."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("UserName", _text(100, True)),
        ("EmailAddress", _text(254, True)),
        # Comma-separated, sorted: AO_ADMIN,AO_USER,EDC_USER (as `lrs-ws user add --roles` takes them).
        ("Roles", _text(100, True)),
        ("Active", Boolean(**_REQ)),
        ("LockedOut", Boolean(**_REQ)),
    ]


class UserList(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("TotalCount", Integer(**_REQ)),
        ("Users", Array(UserSummary, type_name="ArrayOfUserSummary")),
    ]


class UserHistory(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("UserName", _text(100, True)),
        ("TotalCount", Integer(**_REQ)),
        ("Events", Array(AuditEntry, type_name="ArrayOfAuditEntry")),
    ]


class PasswordSet(ComplexModel):
    """The answer of SetPassword: the user whose password is now set."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("ResponseCode", _text(20, True)),
        ("UserName", _text(100, True)),
    ]
