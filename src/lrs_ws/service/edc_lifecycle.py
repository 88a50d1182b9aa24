"""LRS Business Support's side of the EDC lifecycle (docs/edc.md): raising and closing.

Raising queues one e-mail per active EDC user of the owning organisation in the same transaction, so an EDC
is never raised without its notifications, nor a notification sent for an EDC that was rolled back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.mail import OutgoingMail
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service import audit, edc_verification
from lrs_ws.service.auth import Caller
from lrs_ws.service.edcs import EdcDetails, edc_snapshot, owned_edc

OP_RAISE = "raising Event Data Challenges"
OP_CLOSE = "closing Event Data Challenges"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Raised(EdcDetails):
    notified: int = 0


def _choice(field: str, value: str | None, allowed: tuple[str, ...]) -> str:
    text = (value or "").strip()
    if text not in allowed:
        raise e.InvalidValue(field, f"{field} must be one of {', '.join(allowed)}.")
    return text


def _award_date(value: str, today: date) -> date:
    if not _ISO_DATE.match(value):
        raise e.InvalidValue("suppliedValue", "UpdateAwardDate needs the correct award date as YYYY-MM-DD.")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise e.InvalidValue("suppliedValue", f"{value} is not a valid date.") from None
    if parsed > today:
        exc = e.FutureDate("suppliedValue")
        exc.message = f"The supplied award date {value} is in the future."
        raise exc
    return parsed


def check_supplied_value(
    uow: AbstractUnitOfWork, achievement: model.Achievement, action: str, supplied: str | None, today: date
) -> str:
    """The supplied value the recommended action needs, validated against the achievement and the register."""
    raw = supplied or ""
    if action == "EditGrade":
        grade = values.check_grade(raw)
        if not grade:
            raise e.InvalidValue("suppliedValue", "EditGrade needs the correct grade as the supplied value.")
        if grade == achievement.grade:
            raise e.InvalidValue("suppliedValue", f"The achievement already has the grade {grade!r}.")
        return grade
    if action == "UpdateAwardDate":
        text = raw.strip()
        if _award_date(text, today) == achievement.award_date:
            raise e.InvalidValue("suppliedValue", f"The achievement's award date is already {text}.")
        return text
    if action == "TransferToLearner":
        uln = values.check_uln(raw)
        achievement.check_transfer(uln, uow.learners.by_uln(uln))
        return uln
    if raw.strip():
        raise e.InvalidValue("suppliedValue", f"{action} takes no supplied value.")
    return ""


def _notification(
    edc: model.EventDataChallenge, achievement: model.Achievement, organisation: model.Organisation, to: str
) -> OutgoingMail:
    lines = [
        f"An Event Data Challenge has been raised against an achievement uploaded by {organisation.name} "
        f"({organisation.ref}).",
        "",
        f"Reference:           {edc.reference}",
        f"Achievement:         {achievement.id} ({achievement.reference} {achievement.title})",
        f"ULN:                 {edc.uln}",
        f"Problem:             {edc.problem_type}",
        f"Description:         {edc.description}",
        f"Recommended action:  {edc.recommended_action}",
        f"Supplied value:      {edc.supplied_value or '-'}",
        f"Date raised:         {edc.raised_at:%Y-%m-%d}",
        f"Due by:              {edc.due_date:%Y-%m-%d}",
        "",
        "Please review it (ProcessEventDataChallenge), record your decision (Accepted or Rejected)",
        "with a reason, carry out any accepted corrective action, and tell LRS Business Support the outcome.",
        "The whole process should take at most five weeks.",
    ]
    return OutgoingMail(
        recipient=to,
        subject=f"Event Data Challenge {edc.reference} raised for {organisation.ref}",
        body="\n".join(lines) + "\n",
    )


def raise_edc(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    achievement_id: int | None,
    problem_type: str | None,
    description: str | None,
    recommended_action: str | None,
    supplied_value: str | None = None,
) -> Raised:
    """Raise an EDC against any organisation's live achievement and queue the AO's EDC users' e-mails."""
    caller.require(model.ROLE_LRS_SUPPORT, OP_RAISE)
    problem = _choice("problemType", problem_type, model.PROBLEM_TYPES)
    action = _choice("recommendedAction", recommended_action, model.RECOMMENDED_ACTIONS)
    text = values.check_text("description", description, 1000, required=True)
    now = utcnow()
    with uow:
        achievement = uow.achievements.get(achievement_id, None) if achievement_id else None
        if achievement is None or achievement.id is None:
            raise e.NotFound("achievement", achievement_id)
        if achievement.withdrawn:
            raise e.InvalidTransition("achievement", "withdrawn", "challenged")
        value = check_supplied_value(uow, achievement, action, supplied_value, now.date())
        organisation = uow.organisations.get(achievement.organisation_id)
        assert organisation is not None and organisation.id is not None
        learner = uow.learners.by_uln(achievement.uln)
        edc = model.EventDataChallenge(
            organisation_id=organisation.id,
            achievement_id=achievement.id,
            uln=achievement.uln,
            given_name=learner.given_name if learner else "",
            family_name=learner.family_name if learner else "",
            problem_type=problem,
            description=text,
            recommended_action=action,
            supplied_value=value,
            raised_at=now,
            raised_by=caller.username,
        )
        uow.edcs.add(edc)
        achievement.under_challenge = True
        uow.flush()
        audit.record(
            uow,
            caller,
            "RaiseEventDataChallenge",
            now,
            edc_id=edc.id,
            achievement_id=achievement.id,
            after={
                **edc_snapshot(edc),
                "Organisation": organisation.ref,
                "ProblemType": problem,
                "RecommendedAction": action,
                "SuppliedValue": value,
                "DueDate": edc.due_date.isoformat(),
            },
        )
        recipients = uow.users.with_role(organisation.id, model.ROLE_EDC_USER)
        for user in recipients:
            uow.outbox.add(_notification(edc, achievement, organisation, user.email), now)
        uow.commit()
        return Raised(edc, achievement, notified=len(recipients))


def close_edc(
    uow: AbstractUnitOfWork, *, caller: Caller, reference: str | None, expected_version: int | None = None
) -> EdcDetails:
    """Close a decided EDC: a Rejected one at once, an Accepted one only once its action is verified."""
    caller.require(model.ROLE_LRS_SUPPORT, OP_CLOSE)
    now = utcnow()
    with uow:
        edc = owned_edc(uow, caller, reference)
        edc.check_version(expected_version)
        edc.check_closable()  # before the verification, which may store and audit a change
        before = edc_snapshot(edc)
        missing = ""
        if edc.decision == model.ACCEPTED:
            missing = edc_verification.refresh(uow, edc, caller, now).missing
        edc.close(now, missing=missing)
        achievement = uow.achievements.get_any(edc.achievement_id, edc.organisation_id)
        uow.flush()
        if achievement is not None:
            achievement.under_challenge = any(
                other.id != edc.id for other in uow.edcs.open_for_achievement(edc.achievement_id)
            )
            uow.flush()
        audit.record(
            uow,
            caller,
            "CloseEventDataChallenge",
            now,
            edc_id=edc.id,
            achievement_id=edc.achievement_id,
            before=before,
            after={**edc_snapshot(edc), "DateResolved": now.isoformat()},
        )
        uow.commit()
        return EdcDetails(edc, achievement)
