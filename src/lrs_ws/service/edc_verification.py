"""Is an Accepted EDC's corrective action done? Answered from the audit trail and the achievement itself.

The recommended action counts as done when
- the audit trail shows it performed on the challenged achievement after the AO recorded its decision,
  by a user of the owning organisation (any operation: EditAchievementGrade, a batch Update, ...), and
- the achievement still shows it (a grade edited to the supplied value and then back does not count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lrs_ws.domain import model
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.records import ActionCheck
from lrs_ws.service import audit
from lrs_ws.service.auth import Caller

DECISION_OPERATION = "RecordEventDataChallengeDecision"
VERIFIED_OPERATION = "EventDataChallengeActionVerified"


@dataclass(frozen=True)
class Verification:
    verified: bool
    missing: str = ""


@dataclass(frozen=True)
class _Rule:
    """How one recommended action shows in an audit snapshot and on the achievement."""

    key: str
    describe: str
    target: Callable[[model.EventDataChallenge], Any]
    current: Callable[[model.Achievement], Any]


def _supplied(edc: model.EventDataChallenge) -> str:
    return edc.supplied_value


RULES: dict[str, _Rule] = {
    "EditGrade": _Rule("Grade", "grade changed to {value!r}", _supplied, lambda a: a.grade),
    "UpdateAwardDate": _Rule(
        "AwardDate",
        "award date updated to {value}",
        _supplied,
        lambda a: a.award_date.isoformat() if a.award_date else None,
    ),
    "TransferToLearner": _Rule("Uln", "transfer to ULN {value}", _supplied, lambda a: a.uln),
    "Delete": _Rule("Deleted", "deletion", lambda _e: True, lambda a: a.deleted),
    "Withdraw": _Rule("Withdrawn", "withdrawal", lambda _e: True, lambda a: a.withdrawn),
}


def check_many(uow: AbstractUnitOfWork, edcs: Sequence[model.EventDataChallenge]) -> dict[int, Verification]:
    """`check` for many EDCs (a page of a list) in a fixed number of queries, whatever their number and
    however long their achievements' audit trails."""
    results: dict[int, Verification] = {}
    todo: list[tuple[model.EventDataChallenge, _Rule]] = []
    for edc in edcs:
        rule = RULES.get(edc.recommended_action)
        if edc.decision != model.ACCEPTED or edc.decided_at is None:
            results[edc.id] = Verification(False, "the EDC has not been accepted.")  # type: ignore[index]
        elif rule is None:
            results[edc.id] = Verification(  # type: ignore[index]
                False, f"the recommended action {edc.recommended_action} cannot be verified."
            )
        else:
            todo.append((edc, rule))
    if not todo:
        return results
    refs = uow.organisations.refs({edc.organisation_id for edc, _ in todo})
    achievements = uow.achievements.get_any_many(
        {(edc.achievement_id, edc.organisation_id) for edc, _ in todo}
    )
    decisions = uow.audit.latest({edc.id for edc, _ in todo}, DECISION_OPERATION)  # type: ignore[misc]
    performed = uow.audit.performed(
        [
            ActionCheck(
                edc.id,  # type: ignore[arg-type]
                edc.achievement_id,
                edc.organisation_id,
                decisions.get(edc.id),  # type: ignore[arg-type]
                edc.decided_at,  # type: ignore[arg-type]
                rule.key,
                rule.target(edc),
            )
            for edc, rule in todo
        ]
    )
    for edc, rule in todo:
        target = rule.target(edc)
        wanted = rule.describe.format(value=target)
        achievement = achievements.get(edc.achievement_id)
        org_ref = refs.get(edc.organisation_id, "its organisation")
        if edc.id not in performed:
            results[edc.id] = Verification(  # type: ignore[index]
                False,
                f"the recommended action ({wanted}) of achievement {edc.achievement_id} has not been "
                f"performed by {org_ref} since the EDC was accepted on "
                f"{edc.decided_at:%Y-%m-%d %H:%M} UTC.",
            )
        elif achievement is None or rule.current(achievement) != target:
            results[edc.id] = Verification(
                False,
                f"the recommended action ({wanted}) was performed after acceptance but achievement "
                f"{edc.achievement_id} no longer shows it.",
            )
        else:
            results[edc.id] = Verification(True)
    return results


def check(uow: AbstractUnitOfWork, edc: model.EventDataChallenge) -> Verification:
    """Whether the EDC's recommended action is verified, and if not, what is missing (a sentence)."""
    return check_many(uow, [edc])[edc.id]  # type: ignore[index]


def refresh_many(
    uow: AbstractUnitOfWork, edcs: Sequence[model.EventDataChallenge], caller: Caller, now: datetime
) -> dict[int, Verification]:
    """Recompute the open Accepted EDCs' `action_verified`; each change is stored and audited (not
    committed). By EDC id, the verification of every EDC given."""
    results: dict[int, Verification] = {}
    open_accepted = []
    for edc in edcs:
        if edc.is_open and edc.decision == model.ACCEPTED:
            open_accepted.append(edc)
        else:
            missing = "" if edc.action_verified else "the EDC has not been accepted."
            results[edc.id] = Verification(edc.action_verified, missing)  # type: ignore[index]
    checked = check_many(uow, open_accepted)
    for edc in open_accepted:
        result = checked[edc.id]  # type: ignore[index]
        if result.verified != edc.action_verified:
            before = {"Reference": edc.reference, "ActionVerified": edc.action_verified}
            edc.action_verified = result.verified
            uow.flush()
            audit.record(
                uow,
                caller,
                VERIFIED_OPERATION,
                now,
                edc_id=edc.id,
                achievement_id=edc.achievement_id,
                before=before,
                after={"Reference": edc.reference, "ActionVerified": edc.action_verified},
            )
        results[edc.id] = result  # type: ignore[index]
    return results


def refresh(
    uow: AbstractUnitOfWork, edc: model.EventDataChallenge, caller: Caller, now: datetime
) -> Verification:
    """`refresh_many` for one EDC."""
    return refresh_many(uow, [edc], caller, now)[edc.id]  # type: ignore[index]
