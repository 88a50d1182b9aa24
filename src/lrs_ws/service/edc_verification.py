"""Is an Accepted EDC's corrective action done? Answered from the audit trail and the achievement itself.

The recommended action counts as done when
- the audit trail shows it performed on the challenged achievement after the AO recorded its decision,
  by a user of the owning organisation (any operation: EditAchievementGrade, a batch Update, ...), and
- the achievement still shows it (a grade edited to the supplied value and then back does not count).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lrs_ws.domain import model
from lrs_ws.service import audit
from lrs_ws.service.auth import Caller
from lrs_ws.service.uow import AbstractUnitOfWork

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
        "AwardDate", "award date updated to {value}", _supplied,
        lambda a: a.award_date.isoformat() if a.award_date else None,
    ),
    "TransferToLearner": _Rule("Uln", "transfer to ULN {value}", _supplied, lambda a: a.uln),
    "Delete": _Rule("Deleted", "deletion", lambda _e: True, lambda a: a.deleted),
    "Withdraw": _Rule("Withdrawn", "withdrawal", lambda _e: True, lambda a: a.withdrawn),
}


def _load(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _decision_event_id(uow: AbstractUnitOfWork, edc: model.EventDataChallenge) -> int | None:
    ids = [ev.id for ev in uow.audit.for_edc(edc.id) if ev.operation == DECISION_OPERATION]  # type: ignore[arg-type]
    return ids[-1] if ids else None


def check(uow: AbstractUnitOfWork, edc: model.EventDataChallenge) -> Verification:
    """Whether the EDC's recommended action is verified, and if not, what is missing (a sentence)."""
    if edc.decision != model.ACCEPTED or edc.decided_at is None:
        return Verification(False, "the EDC has not been accepted.")
    rule = RULES.get(edc.recommended_action)
    if rule is None:
        return Verification(False, f"the recommended action {edc.recommended_action} cannot be verified.")
    organisation = uow.organisations.get(edc.organisation_id)
    org_ref = organisation.ref if organisation else "its organisation"
    achievement = uow.achievements.get_any(edc.achievement_id, edc.organisation_id)
    target = rule.target(edc)
    wanted = rule.describe.format(value=target)
    accepted = f"{edc.decided_at:%Y-%m-%d %H:%M} UTC"
    decision_id = _decision_event_id(uow, edc)

    def after_decision(ev: model.AuditEvent) -> bool:
        if decision_id is not None:
            return ev.id is not None and ev.id > decision_id
        return edc.decided_at is not None and ev.at >= edc.decided_at

    performed = False
    for ev in uow.audit.for_achievement(edc.achievement_id):
        if ev.organisation_id != edc.organisation_id or not after_decision(ev):
            continue
        before, after = _load(ev.before), _load(ev.after)
        if rule.key in after and after[rule.key] == target and before.get(rule.key) != target:
            performed = True
    if not performed:
        return Verification(
            False,
            f"the recommended action ({wanted}) of achievement {edc.achievement_id} has not been performed "
            f"by {org_ref} since the EDC was accepted on {accepted}.",
        )
    if achievement is None or rule.current(achievement) != target:
        return Verification(
            False,
            f"the recommended action ({wanted}) was performed after acceptance but achievement "
            f"{edc.achievement_id} no longer shows it.",
        )
    return Verification(True)


def refresh(
    uow: AbstractUnitOfWork, edc: model.EventDataChallenge, caller: Caller, now: datetime
) -> Verification:
    """Recompute an open Accepted EDC's `action_verified`; a change is stored and audited (not committed)."""
    if not edc.is_open or edc.decision != model.ACCEPTED:
        missing = "" if edc.action_verified else "the EDC has not been accepted."
        return Verification(edc.action_verified, missing)
    result = check(uow, edc)
    if result.verified != edc.action_verified:
        before = {"Reference": edc.reference, "ActionVerified": edc.action_verified}
        edc.action_verified = result.verified
        uow.flush()
        audit.record(
            uow, caller, VERIFIED_OPERATION, now, edc_id=edc.id, achievement_id=edc.achievement_id,
            before=before, after={"Reference": edc.reference, "ActionVerified": edc.action_verified},
        )
    return result
