"""Whole-table snapshots, to show that a refused call changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

EDC_TABLES = (
    "achievements",
    "event_data_challenges",
    "audit_events",
    "outbox_messages",
    "outbox_attachments",
)


def db_state(engine: Engine, tables: tuple[str, ...] = EDC_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of `tables`, ordered by id."""
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))] for t in tables}
