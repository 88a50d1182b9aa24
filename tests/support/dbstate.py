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


def every_table(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the schema (Alembic's own included), in a stable order."""
    from sqlalchemy import inspect

    with engine.connect() as conn:
        names = sorted(inspect(conn).get_table_names())
        return {
            t: sorted((tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}"))), key=repr) for t in names
        }
