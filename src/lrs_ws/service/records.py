"""One LRS `Achievement` record (Create / Update / Withdraw / Reinstate): validated and applied on its own.

Shared by the single-record operations and the batch worker, so both give the same outcome for the same
record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.records import Aim
from lrs_ws.service import audit
from lrs_ws.service.auth import Caller

ACTION_CREATE, ACTION_UPDATE, ACTION_WITHDRAW, ACTION_REINSTATE = 1, 2, 3, 4
ACTIONS = {
    ACTION_CREATE: "Create",
    ACTION_UPDATE: "Update",
    ACTION_WITHDRAW: "Withdraw",
    ACTION_REINSTATE: "Reinstate",
}

SUBMISSION_TYPES = {"final": model.FINAL, "provisional": model.PROVISIONAL}


def check_submission_type(value: str | None) -> str:
    status = SUBMISSION_TYPES.get((value or "").strip().lower())
    if status is None:
        raise e.SubmissionTypeInvalid()
    return status


@dataclass(frozen=True)
class AchievementRecord:
    """The 15 fields of the LRS `Achievement` type, as received (already typed by the transport)."""

    AchievementAwardDate: date | datetime | None
    Action: int | None
    ActionDate: date | datetime | None = None
    ActionReason: str | None = None
    DateofBirth: date | datetime | None = None
    FamilyName: str | None = None
    Gender: int | None = None
    GivenName: str | None = None
    Grade: str | None = None
    LanguageForAssessment: str | None = None
    LearnerPostcode: str | None = None
    MisIdentifier: str | None = None
    ProviderUkprn: str | None = None
    Uln: str | None = None
    UnitOrQualificationReferenceNumber: str | None = None


FIELD_NAMES = tuple(AchievementRecord.__dataclass_fields__)


@dataclass(frozen=True)
class CleanRecord:
    action: int
    uln: str
    reference: str
    award_date: date
    given_name: str
    family_name: str
    grade: str
    language: str
    provider_ukprn: str
    mis_identifier: str
    reason: str


def _as_date(field: str, value: date | datetime | None) -> date:
    if value is None:
        raise e.InvalidValue(field, f"{field} is required.", e.PROBLEM_REQUIRED)
    return value.date() if isinstance(value, datetime) else value


def clean(record: AchievementRecord, today: date) -> CleanRecord:
    """Field-level validation; raises the first field error found."""
    for name in FIELD_NAMES:
        value = getattr(record, name)
        if isinstance(value, str):
            values.check_characters(name, value)
    if record.Action not in ACTIONS:
        raise e.InvalidValue(
            "Action", "Action must be 1 (Create), 2 (Update), 3 (Withdraw) or 4 (Reinstate)."
        )
    uln = values.check_uln(record.Uln)
    reference = values.check_reference(record.UnitOrQualificationReferenceNumber)
    award_date = _as_date("AchievementAwardDate", record.AchievementAwardDate)
    given = values.check_name("GivenName", record.GivenName)
    family = values.check_name("FamilyName", record.FamilyName)
    grade = values.check_grade(record.Grade)
    language = values.check_text("LanguageForAssessment", record.LanguageForAssessment, 50)
    ukprn = values.check_ukprn(record.ProviderUkprn)
    mis = values.check_text("MisIdentifier", record.MisIdentifier, 50)
    reason = values.check_text("ActionReason", record.ActionReason, 200)
    values.check_gender(record.Gender)
    values.check_text("LearnerPostcode", record.LearnerPostcode, 10)
    if record.DateofBirth is not None:
        values.check_not_future("DateofBirth", _as_date("DateofBirth", record.DateofBirth), today)
    values.check_not_future("AchievementAwardDate", award_date, today)
    return CleanRecord(
        record.Action, uln, reference, award_date, given, family, grade, language, ukprn, mis, reason
    )


@dataclass(frozen=True)
class Applied:
    """What applying one record did, for the batch counts."""

    action: int
    achievement: model.Achievement
    promoted: bool = False


class RecordView(Protocol):
    """What deciding a record needs: the single-record path reads the repositories and builds mapped
    achievements; the batch worker reads a chunk's rows in bulk and builds plain ones it inserts in bulk."""

    def learner(self, uln: str) -> model.LearnerData | None: ...

    def aim(self, reference: str) -> Aim | None: ...

    def matching(
        self, organisation_id: int, uln: str, reference: str, mis_identifier: str | None
    ) -> Sequence[model.AchievementData]: ...

    def new_achievement(self, **fields: Any) -> model.AchievementData: ...


class UowView:
    """A RecordView over the unit of work's repositories."""

    def __init__(self, uow: AbstractUnitOfWork) -> None:
        self.uow = uow

    def learner(self, uln: str) -> model.Learner | None:
        return self.uow.learners.by_uln(uln)

    def aim(self, reference: str) -> Aim | None:
        return self.uow.aims.get(reference)

    def matching(
        self, organisation_id: int, uln: str, reference: str, mis_identifier: str | None
    ) -> Sequence[model.Achievement]:
        return self.uow.achievements.matching(organisation_id, uln, reference, mis_identifier)

    def new_achievement(self, **fields: Any) -> model.Achievement:
        return model.Achievement(**fields)


@dataclass(frozen=True)
class Change:
    """The decided effect of one record: the achievement (new, or an existing one already changed in memory)
    and what its audit event records."""

    action: int
    operation: str
    achievement: model.AchievementData
    before: dict[str, Any] | None
    after: dict[str, Any]
    created: bool = False
    promoted: bool = False


def _check_learner(view: RecordView, rec: CleanRecord) -> None:
    learner = view.learner(rec.uln)
    if learner is None:
        raise e.LearnerNotFound(rec.uln)
    if not learner.names_match(rec.given_name, rec.family_name):
        raise e.LearnerMismatch()


def _single_target(view: RecordView, caller: Caller, rec: CleanRecord) -> model.AchievementData:
    found = view.matching(caller.organisation_id, rec.uln, rec.reference, rec.mis_identifier or None)
    if not found:
        raise e.NotFound("achievement matching ULN and reference", f"{rec.uln} {rec.reference}")
    if len(found) > 1:
        raise e.AmbiguousTarget(len(found))
    return found[0]


def decide(view: RecordView, caller: Caller, rec: CleanRecord, status: str, now: datetime) -> Change:
    """Decide one clean record for the caller's organisation and make the change in memory.

    Raises a DomainError (and changes nothing) when the record is refused. A new achievement is returned
    unsaved; the caller stores it and the audit event.
    """
    _check_learner(view, rec)
    if rec.action == ACTION_CREATE:
        return _create(view, caller, rec, status, now)
    target = _single_target(view, caller, rec)
    before = target.snapshot()
    promoted = False
    if rec.action == ACTION_UPDATE:
        target.update_details(
            grade=rec.grade,
            award_date=rec.award_date,
            language=rec.language,
            provider_ukprn=rec.provider_ukprn,
            now=now,
        )
        if status == model.FINAL:
            promoted = target.promote_to_final(now)
    elif rec.action == ACTION_WITHDRAW:
        target.withdraw(rec.reason, now)
    else:
        target.reinstate(now)
    return Change(rec.action, ACTIONS[rec.action], target, before, target.snapshot(), promoted=promoted)


def _create(view: RecordView, caller: Caller, rec: CleanRecord, status: str, now: datetime) -> Change:
    existing = [
        a
        for a in view.matching(caller.organisation_id, rec.uln, rec.reference, rec.mis_identifier or None)
        if rec.mis_identifier or a.award_date == rec.award_date
    ]
    if existing:
        target = existing[0]
        if status == model.FINAL and target.status == model.PROVISIONAL and len(existing) == 1:
            before = target.snapshot()
            target.update_details(
                grade=rec.grade,
                award_date=rec.award_date,
                language=rec.language,
                provider_ukprn=rec.provider_ukprn,
                now=now,
            )
            target.promote_to_final(now)
            return Change(ACTION_CREATE, "PromoteToFinal", target, before, target.snapshot(), promoted=True)
        raise e.DuplicateAchievement()
    aim = view.aim(rec.reference)
    achievement = view.new_achievement(
        organisation_id=caller.organisation_id,
        uln=rec.uln,
        reference=rec.reference,
        title=aim.title if aim else rec.reference,
        aim_type=aim.aim_type if aim else (values.aim_type_of(rec.reference) or ""),
        level=aim.level if aim else "",
        grade=rec.grade,
        award_date=rec.award_date,
        language=rec.language,
        provider_ukprn=rec.provider_ukprn,
        mis_identifier=rec.mis_identifier,
        status=status,
        created_at=now,
    )
    return Change(ACTION_CREATE, "Create", achievement, None, achievement.snapshot(), created=True)


def apply(
    uow: AbstractUnitOfWork,
    caller: Caller,
    rec: CleanRecord,
    status: str,
    now: datetime,
    *,
    source: str,
) -> Applied:
    """Apply one clean record for the caller's organisation, with its audit event. Raises on refusal."""
    change = decide(UowView(uow), caller, rec, status, now)
    achievement = change.achievement
    assert isinstance(achievement, model.Achievement)
    if change.created:
        uow.achievements.add(achievement)
    uow.flush()
    audit.record(
        uow,
        caller,
        f"{source}{change.operation}",
        now,
        achievement_id=achievement.id,
        before=change.before,
        after=change.after,
    )
    return Applied(change.action, achievement, change.promoted)
