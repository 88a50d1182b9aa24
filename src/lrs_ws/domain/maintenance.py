"""Planned maintenance: while a window is open every operation is refused as temporarily unavailable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_MESSAGE = 500


def _iso(at: datetime) -> str:
    """UTC as `2026-12-01T17:00:00Z` (times are stored naive, in UTC)."""
    return at.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


@dataclass(frozen=True)
class MaintenanceWindow:
    """An open maintenance window: since when, the expected end (None: not announced), and a message."""

    started_at: datetime
    until: datetime | None
    message: str
    started_by: str

    def refusal_message(self) -> str:
        """The detail every refused operation carries: the expected end and the operator's message."""
        end = f"expected to end at {_iso(self.until)}" if self.until else "with no end time announced yet"
        text = f"The service is closed for planned maintenance, {end}; nothing was changed. Try again then."
        return f"{text} {self.message}" if self.message else text

    def as_json(self) -> dict[str, Any]:
        return {
            "since": _iso(self.started_at),
            "until": _iso(self.until) if self.until else None,
            "message": self.message,
        }
