"""Table snapshots, to show that a refused call changed nothing: `db_state(before) == db_state(after)`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, text

# The tables an EDC call could touch.
EDC_TABLES = (
    "achievements",
    "event_data_challenges",
    "audit_events",
    "outbox_messages",
    "outbox_attachments",
)
# The tables a call on achievements or learners could touch.
RECORD_TABLES = ("achievements", "event_data_challenges", "audit_events", "learners")


def db_state(db: Engine | str, tables: Iterable[str] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of `tables` (by default every table of the schema, Alembic's own included), in a stable
    order; `db` is an engine or a database URL."""
    engine = create_engine(db) if isinstance(db, str) else db
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names()) if tables is None else list(tables)
            return {
                t: sorted((tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}"))), key=repr)
                for t in names
            }
    finally:
        if engine is not db:
            engine.dispose()
