"""Event Data Challenge use cases for the owning AO's EDC users (docs/edc.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service import audit, edc_verification
from lrs_ws.service.auth import Caller

OP_EDC = "processing Event Data Challenges"


@dataclass(frozen=True)
class EdcDetails:
    edc: model.EventDataChallenge
    achievement: model.Achievement | None


@dataclass(frozen=True)
class EdcPage:
    total: int
    items: Sequence[model.EventDataChallenge]


def edc_snapshot(edc: model.EventDataChallenge) -> dict[str, object]:
    return {
        "Reference": edc.reference,
        "Status": edc.status,
        "Decision": edc.decision,
        "DecisionReason": edc.decision_reason,
        "ActionVerified": edc.action_verified,
    }


def _check_status(status: str | None) -> str | None:
    if status is None or status == "":
        return None
    if status not in model.EDC_STATUSES:
        raise e.InvalidValue("status", f"status must be one of {', '.join(model.EDC_STATUSES)}.")
    return status


def owned_edc(uow: AbstractUnitOfWork, caller: Caller, reference: str | None) -> model.EventDataChallenge:
    """The caller AO's EDC (any organisation's for LRS Business Support), or NotFound."""
    edc_id = model.parse_edc_reference(reference)
    scope = None if caller.is_lrs_support else caller.organisation_id
    edc = uow.edcs.get(edc_id, scope) if edc_id is not None else None
    if edc is None:
        raise e.NotFound("Event Data Challenge", (reference or "").strip()[:20])
    return edc


def list_edcs(uow: AbstractUnitOfWork, *, caller: Caller, status: str | None, page: values.Page) -> EdcPage:
    """An AO's EDC users see their organisation's EDCs; LRS Business Support sees all."""
    caller.require_any((model.ROLE_EDC_USER, model.ROLE_LRS_SUPPORT), OP_EDC)
    wanted = _check_status(status)
    now = utcnow()
    with uow:
        scope = None if caller.is_lrs_support else caller.organisation_id
        total, items = uow.edcs.list(scope, wanted, page)
        # Accepted EDCs show whether their corrective action is done yet (the page's in a few queries).
        edc_verification.refresh_many(uow, items, caller, now)
        uow.commit()
        return EdcPage(total, items)


def process(uow: AbstractUnitOfWork, *, caller: Caller, reference: str | None) -> EdcDetails:
    """Full details of one EDC; opening a New one marks it InProgress (docs/edc.md)."""
    caller.require(model.ROLE_EDC_USER, OP_EDC)
    now = utcnow()
    with uow:
        edc = owned_edc(uow, caller, reference)
        if edc.organisation_id != caller.organisation_id:
            raise e.NotFound("Event Data Challenge", edc.reference)
        before = edc_snapshot(edc)
        if edc.process():
            uow.flush()
            audit.record(
                uow,
                caller,
                "ProcessEventDataChallenge",
                now,
                edc_id=edc.id,
                achievement_id=edc.achievement_id,
                before=before,
                after=edc_snapshot(edc),
            )
        edc_verification.refresh(uow, edc, caller, now)
        achievement = uow.achievements.get(edc.achievement_id, caller.organisation_id)
        uow.commit()
        return EdcDetails(edc, achievement)


def record_decision(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    reference: str | None,
    decision: str | None,
    reason: str | None,
    expected_version: int | None = None,
) -> EdcDetails:
    """The AO's decision on its EDC (Accepted or Rejected, with a reason); a New EDC moves to InProgress."""
    caller.require(model.ROLE_EDC_USER, OP_EDC)
    if decision not in model.DECISIONS:
        raise e.InvalidValue("decision", "decision must be Accepted or Rejected.")
    text = values.check_text("reason", reason, 1000, required=True)
    now = utcnow()
    with uow:
        edc = owned_edc(uow, caller, reference)
        if edc.organisation_id != caller.organisation_id:
            raise e.NotFound("Event Data Challenge", edc.reference)
        edc.check_version(expected_version)
        before = edc_snapshot(edc)
        edc.decide(decision, text, now)
        uow.flush()
        audit.record(
            uow,
            caller,
            "RecordEventDataChallengeDecision",
            now,
            edc_id=edc.id,
            achievement_id=edc.achievement_id,
            before=before,
            after=edc_snapshot(edc),
        )
        achievement = uow.achievements.get(edc.achievement_id, caller.organisation_id)
        uow.commit()
        return EdcDetails(edc, achievement)
