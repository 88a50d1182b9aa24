"""Planned maintenance: switched on and off by an operator, read by every app server and worker.

The window lives in the database, so every process sees it; each process keeps what it read for
`CACHE_SECONDS`, so a request costs no query. While a window is open every SOAP operation is refused with
WSEC0004 (`UnderMaintenance`, whose message names the expected end), the health JSON reports the window, and
workers finish their chunk and wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from lrs_ws.domain import errors as e
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.maintenance import MAX_MESSAGE, MaintenanceWindow
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service import audit

# How long a process trusts what it read: a window switched on or off is seen everywhere within this time.
CACHE_SECONDS = 1.0
OPERATOR_MAX = 100


def maintenance_status(uow: AbstractUnitOfWork) -> MaintenanceWindow | None:
    """The open maintenance window, or None (read from the database, uncached)."""
    with uow:
        return uow.maintenance.current()


def _audit(
    uow: AbstractUnitOfWork,
    operator: str,
    operation: str,
    now: datetime,
    before: MaintenanceWindow | None,
    after: MaintenanceWindow | None,
) -> None:
    audit.record_operator(
        uow,
        operator,
        operation,
        now,
        organisation_id=None,
        before=None if before is None else before.as_json(),
        after=None if after is None else after.as_json(),
    )


def switch_on(
    uow: AbstractUnitOfWork, *, until: datetime | None, message: str, operator: str
) -> MaintenanceWindow:
    """Open a maintenance window (replacing one already open); audited under `operator`."""
    now = utcnow()
    message = " ".join(message.split())
    if len(message) > MAX_MESSAGE:
        raise e.InvalidValue("message", f"The message is {len(message)} characters; at most {MAX_MESSAGE}.")
    if until is not None and until <= now:
        raise e.InvalidValue("until", "The expected end of maintenance must be in the future.")
    operator = operator[:OPERATOR_MAX]
    window = MaintenanceWindow(now, until, message, operator)
    with uow:
        before = uow.maintenance.current()
        uow.maintenance.close(now, operator)
        uow.maintenance.open(window)
        _audit(uow, operator, "MaintenanceOn", now, before, window)
        uow.commit()
    return window


def switch_off(uow: AbstractUnitOfWork, *, operator: str) -> MaintenanceWindow | None:
    """Close the open window (audited); the window that was closed, or None when none was open."""
    now = utcnow()
    operator = operator[:OPERATOR_MAX]
    with uow:
        before = uow.maintenance.current()
        if before is None:
            return None
        uow.maintenance.close(now, operator)
        _audit(uow, operator, "MaintenanceOff", now, before, None)
        uow.commit()
    return before


class MaintenanceStatus:
    """One process's view of the maintenance window, read again at most every `CACHE_SECONDS`."""

    def __init__(
        self,
        uow_factory: Callable[[], AbstractUnitOfWork],
        seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uow_factory = uow_factory
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._window: MaintenanceWindow | None = None
        self._read_at = float("-inf")

    def current(self) -> MaintenanceWindow | None:
        """The open window; raises ServiceUnavailable when the database cannot be read."""
        with self._lock:
            if self.clock() - self._read_at < self.seconds:
                return self._window
        window = maintenance_status(self.uow_factory())
        with self._lock:
            self._window, self._read_at = window, self.clock()
        return window

    def refuse_if_on(self) -> None:
        """Raise UnderMaintenance while a window is open."""
        window = self.current()
        if window is not None:
            raise e.UnderMaintenance(window.refusal_message())
