"""Audit events are written in the same transaction as the change they describe."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from lrs_ws.domain import model
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service.auth import Caller

# One encoding for every stored before/after (single-record changes, batch chunks, operator commands), so a
# history reads alike whichever path wrote it.
_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def encode(value: dict[str, Any] | None) -> str | None:
    """An audit event's before or after as stored: JSON with sorted keys, other values as their str()."""
    return None if value is None else _ENCODER.encode(value)


def record(
    uow: AbstractUnitOfWork,
    caller: Caller,
    operation: str,
    now: datetime,
    *,
    achievement_id: int | None = None,
    edc_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    subject_user_id: int | None = None,
) -> None:
    uow.audit.add(
        model.AuditEvent(
            at=now,
            user_id=caller.user_id,
            username=caller.username,
            organisation_id=caller.organisation_id,
            operation=operation,
            achievement_id=achievement_id,
            edc_id=edc_id,
            before=encode(before),
            after=encode(after),
            request_id=caller.request_id,
            client_certificate=caller.certificate,
            subject_user_id=subject_user_id,
        )
    )


def record_operator(
    uow: AbstractUnitOfWork,
    operator: str,
    operation: str,
    now: datetime,
    *,
    organisation_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    subject_user_id: int | None = None,
) -> None:
    """A change made from the command line: `operator` names who ran it (there is no user session)."""
    uow.audit.add(
        model.AuditEvent(
            at=now,
            user_id=None,
            username=operator[:100],
            organisation_id=organisation_id,
            operation=operation,
            before=encode(before),
            after=encode(after),
            request_id=f"cli-{uuid.uuid4().hex[:12]}",
            subject_user_id=subject_user_id,
        )
    )
