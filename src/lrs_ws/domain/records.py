"""What the store hands the use cases as plain data: rows read for one purpose, not entities to change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


@dataclass(frozen=True)
class Aim:
    reference: str
    title: str
    aim_type: str
    level: str


@dataclass(frozen=True)
class Login:
    """What a login needs to know of a user and its organisation (read together, as plain data)."""

    user_id: int
    username: str
    password_hash: str
    email: str
    roles: str
    active: bool
    organisation_id: int
    organisation_ref: str
    organisation_active: bool


class Purged(NamedTuple):
    """One page of a retention purge: the last id it covered (None: nothing left), how many items (jobs,
    messages) and how many of their stored rows (records and outcomes, attachments)."""

    last_id: int | None
    items: int
    rows: int


@dataclass(frozen=True)
class ActionCheck:
    """Look for an audit event showing `field` changed to `value` on an achievement by its owner after an
    EDC decision: after event `after_event_id` (the decision's own event), else at or after `since`."""

    edc_id: int
    achievement_id: int
    organisation_id: int
    after_event_id: int | None
    since: datetime
    field: str
    value: str | bool


@dataclass(frozen=True)
class ClientCertificate:
    organisation_id: int
    fingerprint: str
    added_at: datetime


@dataclass(frozen=True)
class PasswordToken:
    """A one-time token's stored state (the token itself is never stored, only its digest)."""

    id: int
    user_id: int
    expires_at: datetime
    used_at: datetime | None
