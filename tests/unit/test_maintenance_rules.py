"""Planned maintenance: what a refused caller is told, and the per-process view that costs no query per
request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from lrs_ws.domain.error_codes import error_code
from lrs_ws.domain.errors import UnderMaintenance
from lrs_ws.domain.maintenance import MaintenanceWindow
from lrs_ws.service.maintenance import MaintenanceStatus

WINDOW = MaintenanceWindow(datetime(2026, 12, 1, 16, 0), datetime(2026, 12, 1, 17, 30), "Upgrade.", "ops")


class CountingUow:
    """A unit of work whose maintenance repository counts its reads."""

    def __init__(self, store: dict[str, Any]) -> None:
        self.store = store
        self.maintenance = self

    def __enter__(self) -> CountingUow:
        return self

    def __exit__(self, *args: Any) -> None:
        return None

    def current(self) -> MaintenanceWindow | None:
        self.store["reads"] += 1
        return self.store["window"]  # type: ignore[no-any-return]


def test_the_refusal_names_the_expected_end_in_utc_and_the_operators_message() -> None:
    text = WINDOW.refusal_message()
    assert "expected to end at 2026-12-01T17:30:00Z" in text and text.endswith("Upgrade.")
    assert "nothing was changed" in text
    open_ended = MaintenanceWindow(WINDOW.started_at, None, "", "ops").refusal_message()
    assert "no end time announced" in open_ended


def test_maintenance_is_refused_with_the_temporary_unavailability_code() -> None:
    assert error_code(UnderMaintenance(WINDOW.refusal_message())) == "WSEC0004"


def test_a_process_reads_the_window_at_most_once_a_second_and_sees_a_change_after_that() -> None:
    store: dict[str, Any] = {"reads": 0, "window": None}
    now = [100.0]
    status = MaintenanceStatus(lambda: CountingUow(store), seconds=1.0, clock=lambda: now[0])  # type: ignore[arg-type,return-value]
    assert [status.current() for _ in range(50)] == [None] * 50
    assert store["reads"] == 1
    store["window"] = WINDOW
    now[0] += 0.5
    assert status.current() is None  # still within the second
    now[0] += 0.6
    assert status.current() == WINDOW
    assert store["reads"] == 2
    with pytest.raises(UnderMaintenance):
        status.refuse_if_on()
