"""Learner-achievement use cases: the portal's corrective actions and the single-record actions
(docs/operations-reference.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.ports import ACHIEVEMENT_SORT_KEYS, AbstractUnitOfWork
from lrs_ws.service import audit, records
from lrs_ws.service.auth import Caller

OP_MANAGE = "managing achievements"


@dataclass(frozen=True)
class LearnerAchievements:
    learner: model.LearnerData
    total: int
    achievements: Sequence[model.AchievementData]


def _owned(uow: AbstractUnitOfWork, caller: Caller, achievement_id: int | None) -> model.Achievement:
    """A live achievement of the caller's organisation, or NotFound (also for another AO's)."""
    found = uow.achievements.get(achievement_id, caller.organisation_id) if achievement_id else None
    if found is None:
        raise e.NotFound("achievement", achievement_id)
    return found


def _learner(uow: AbstractUnitOfWork, uln: str | None) -> model.LearnerData:
    clean_uln = values.check_uln(uln)
    learner = uow.learners.view(clean_uln)
    if learner is None:
        raise e.LearnerNotFound(clean_uln)
    return learner


def get_learner_achievements(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    uln: str | None,
    sort_by: str | None,
    descending: bool | None,
    page: values.Page,
) -> LearnerAchievements:
    """With no sort given, the portal's order: newest award date first. A ULN merged into another answers
    for its master: the master's name and the achievements of the master and of every ULN merged into it."""
    caller.require(model.ROLE_AO_USER, OP_MANAGE)
    sort_key = sort_by or "AwardDate"
    if sort_key not in ACHIEVEMENT_SORT_KEYS:
        raise e.InvalidValue("sortBy", f"sortBy must be one of {', '.join(ACHIEVEMENT_SORT_KEYS)}.")
    desc = (not sort_by) if descending is None else descending
    with uow:
        learner = _learner(uow, uln)
        if learner.merged_into is not None:
            learner = _learner(uow, learner.merged_into)
        total, rows = uow.achievements.for_learner(caller.organisation_id, learner.uln, sort_key, desc, page)
        return LearnerAchievements(learner, total, rows)


def get_achievement(
    uow: AbstractUnitOfWork, *, caller: Caller, achievement_id: int | None
) -> model.AchievementData:
    """LRS Business Support may read any organisation's achievement (to raise EDCs); AO users only their
    own (another AO's is NotFound, as a missing one)."""
    if not caller.is_lrs_support:
        caller.require(model.ROLE_AO_USER, OP_MANAGE)
    owner = None if caller.is_lrs_support else caller.organisation_id
    with uow:
        found = uow.achievements.view(achievement_id, owner) if achievement_id else None
        if found is None:
            raise e.NotFound("achievement", achievement_id)
        return found


def _change(
    uow: AbstractUnitOfWork,
    caller: Caller,
    achievement_id: int | None,
    expected_version: int | None,
    operation: str,
    mutate: Callable[[AbstractUnitOfWork, model.Achievement, datetime], None],
) -> model.Achievement:
    """Load the caller's achievement, check its version, mutate it, audit and commit (the caller has been
    checked for the AO_USER role)."""
    now = utcnow()
    with uow:
        achievement = _owned(uow, caller, achievement_id)
        achievement.check_version(expected_version)
        before = achievement.snapshot()
        mutate(uow, achievement, now)
        uow.flush()
        audit.record(
            uow,
            caller,
            operation,
            now,
            achievement_id=achievement.id,
            before=before,
            after=achievement.snapshot(),
        )
        uow.commit()
        return achievement


def edit_grade(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    achievement_id: int | None,
    new_grade: str | None,
    expected_version: int | None = None,
) -> model.Achievement:
    """Replace or add the grade (empty removes it)."""
    caller.require(model.ROLE_AO_USER, OP_MANAGE)
    grade = values.check_grade(new_grade)
    return _change(
        uow,
        caller,
        achievement_id,
        expected_version,
        "EditGrade",
        lambda _u, a, now: a.edit_grade(grade, now),
    )


def delete(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    achievement_id: int | None,
    expected_version: int | None = None,
) -> model.Achievement:
    """Hide the achievement from every operation; it and its audit trail stay in the database."""
    caller.require(model.ROLE_AO_USER, OP_MANAGE)
    return _change(uow, caller, achievement_id, expected_version, "Delete", lambda _u, a, now: a.delete(now))


def withdraw(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    achievement_id: int | None,
    reason: str | None,
    expected_version: int | None = None,
) -> model.Achievement:
    """Mark the achievement withdrawn, with the reason."""
    caller.require(model.ROLE_AO_USER, OP_MANAGE)
    text = values.check_text("reason", reason, 200)
    return _change(
        uow, caller, achievement_id, expected_version, "Withdraw", lambda _u, a, now: a.withdraw(text, now)
    )


def reinstate(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    achievement_id: int | None,
    expected_version: int | None = None,
) -> model.Achievement:
    """Reinstate a withdrawn achievement."""
    caller.require(model.ROLE_AO_USER, OP_MANAGE)
    return _change(
        uow, caller, achievement_id, expected_version, "Reinstate", lambda _u, a, now: a.reinstate(now)
    )


def transfer(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    achievement_id: int | None,
    new_uln: str | None,
    expected_version: int | None = None,
) -> model.Achievement:
    """Move the achievement to another learner on the register."""
    caller.require(model.ROLE_AO_USER, OP_MANAGE)
    target_uln = values.check_uln(new_uln)

    def move(u: AbstractUnitOfWork, a: model.Achievement, now: datetime) -> None:
        a.transfer_to(target_uln, u.learners.by_uln(target_uln), now)

    return _change(uow, caller, achievement_id, expected_version, "Transfer", move)


def find_learner(uow: AbstractUnitOfWork, *, caller: Caller, uln: str | None) -> model.LearnerData:
    """The register's names for a ULN (to confirm a transfer target); audited as a sensitive read."""
    caller.require(model.ROLE_AO_USER, OP_MANAGE)
    with uow:
        learner = _learner(uow, uln)
        audit.record(uow, caller, "FindLearnerByUln", utcnow(), after={"Uln": learner.uln})
        uow.commit()
        return learner


def create(
    uow: AbstractUnitOfWork, *, caller: Caller, submission_type: str | None, record: records.AchievementRecord
) -> model.Achievement:
    """A single Create record, with the same rules as one record of a batch."""
    caller.require(model.ROLE_AO_USER, OP_MANAGE)
    status = records.check_submission_type(submission_type)
    now = utcnow()
    if record.Action not in (None, records.ACTION_CREATE):
        raise e.InvalidValue("Action", "CreateAchievement takes Action 1 (Create) or no Action.")
    rec = records.clean(
        records.AchievementRecord(**{**record.__dict__, "Action": records.ACTION_CREATE}), now.date()
    )
    with uow:
        applied = records.apply(uow, caller, rec, status, now, source="")
        uow.commit()
        return applied.achievement


@dataclass(frozen=True)
class HistoryEntry:
    when: object
    username: str
    operation: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class HistoryPage:
    total: int
    entries: list[HistoryEntry]


def history(
    uow: AbstractUnitOfWork, *, caller: Caller, achievement_id: int | None, page: values.Page
) -> HistoryPage:
    """One page of the audit trail of one of the caller's achievements (deleted ones included), oldest
    first, with the number of events."""
    caller.require(model.ROLE_AO_USER, OP_MANAGE)
    with uow:
        found = uow.achievements.get_any(achievement_id, caller.organisation_id) if achievement_id else None
        if found is None:
            raise e.NotFound("achievement", achievement_id)
        total, events = uow.audit.page_for_achievement(found.id, page)  # type: ignore[arg-type]
        return HistoryPage(
            total, [HistoryEntry(ev.at, ev.username, ev.operation, ev.before, ev.after) for ev in events]
        )
