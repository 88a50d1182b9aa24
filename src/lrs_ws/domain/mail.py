"""Outgoing e-mail as the service layer sees it, and the retry rule of its delivery."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

MAX_RETRY_DELAY = timedelta(hours=1)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class OutgoingMail:
    """One message to one recipient, queued in the outbox."""

    recipient: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = field(default=())


@dataclass(frozen=True)
class QueuedMail:
    """A message claimed from the outbox for one delivery attempt."""

    id: int
    mail: OutgoingMail
    attempts: int
    created_at: datetime
    last_error: str | None = None


@dataclass(frozen=True)
class PendingMail:
    """A message not sent yet, as an operator sees it: why its last attempt failed and when the next is."""

    id: int
    recipient: str
    subject: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    given_up: bool


def retry_delay(failed_attempts: int, base_seconds: float) -> timedelta:
    """Exponential back-off: base, 2*base, 4*base, ... after the 1st, 2nd, 3rd failure, at most an hour."""
    exponent = max(0, failed_attempts - 1)
    seconds = base_seconds * (2 ** min(exponent, 30))
    return min(timedelta(seconds=seconds), MAX_RETRY_DELAY)
