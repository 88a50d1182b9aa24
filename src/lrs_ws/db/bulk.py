"""Bulk writes for the batch worker: many rows in a few statements, below SQLAlchemy's per-row cost.

- SQLite: the driver's own executemany with positional tuples (values converted by the column types' bind
  processors, so they are stored exactly as SQLAlchemy would store them).
- PostgreSQL: COPY ... FROM STDIN through psycopg (its executemany sends one statement per row).

Rows are positional tuples in the order of `names`. Everything runs in the session's transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@functools.lru_cache(maxsize=64)
def _sqlite_processors(table: Table, names: tuple[str, ...]) -> tuple[Callable[[Any], Any] | None, ...]:
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    return tuple(table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)


Rows = Sequence[tuple[Any, ...]]


def _sqlite_rows(table: Table, names: tuple[str, ...], rows: Rows) -> list[tuple[Any, ...]]:
    convert = [(i, p) for i, p in enumerate(_sqlite_processors(table, names)) if p is not None]
    if not convert:
        return list(rows)
    # A chunk's rows repeat the same few dates and timestamps: convert each distinct value once.
    seen: list[dict[Any, Any]] = [{} for _ in convert]
    out = []
    for row in rows:
        values = list(row)
        for (i, process), cache in zip(convert, seen, strict=True):
            value = values[i]
            if value is not None:
                try:
                    values[i] = cache[value]
                except KeyError:
                    values[i] = cache[value] = process(value)
        out.append(tuple(values))
    return out


def _copy(session: Session, target: str, names: Sequence[str], rows: Rows) -> None:
    raw: Any = session.connection().connection.driver_connection
    try:
        with raw.cursor() as cursor, cursor.copy(f"COPY {target} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    except (psycopg.Error, ValueError) as exc:
        # COPY goes to the driver directly, so SQLAlchemy has not wrapped its error: wrap it as SQLAlchemy
        # would, so a connection lost in the middle is a dropped connection for the unit of work (WSEC0004).
        lost = bool(raw.broken or raw.closed)
        driver_error = exc
        if isinstance(exc, ValueError):
            if not lost:
                raise
            # psycopg ends a COPY expecting exactly one answer from the server; a connection cut as the
            # COPY ends (PostgreSQL stopped behind PgBouncer) can leave it none or two, and unpacking fails.
            driver_error = psycopg.OperationalError("the connection was lost while ending COPY")
        raise DBAPIError.instance(
            None, None, driver_error, psycopg.Error, connection_invalidated=lost
        ) from exc


def insert_rows(session: Session, table: Table, names: tuple[str, ...], rows: Rows) -> None:
    """INSERT many rows."""
    if not rows:
        return
    if is_postgresql(session):
        _copy(session, table.name, names, rows)
        return
    marks = ", ".join("?" for _ in names)
    session.connection().exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})", _sqlite_rows(table, names, rows)
    )
