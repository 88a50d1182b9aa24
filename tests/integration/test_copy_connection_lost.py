"""COPY, the bulk write of the batch worker and the change feed on PostgreSQL, on a connection cut as it ends.

psycopg ends a COPY expecting exactly one answer from the server. When PostgreSQL stops behind PgBouncer at
that moment, it can get none or two, and fails unpacking them with a ValueError rather than a driver error.
That is still a dropped connection: the unit of work refuses with WSEC0004 and nothing is written. A
ValueError on a connection that is still sound stays an error of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import psycopg._copy
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from support.databases import database
from support.pg import terminate_backend

from lrs_ws.app import Wiring, wire
from lrs_ws.config import Settings
from lrs_ws.db import bulk
from lrs_ws.db.tables_security import login_failures
from lrs_ws.domain.errors import ServiceUnavailable

NAMES = ("username", "source", "failed_at")
ROWS = [(f"user{i}", "127.0.0.1", datetime(2026, 12, 1, 9, 0, i)) for i in range(20)]
UNPACK_FAILED = "too many values to unpack (expected 1)"


@pytest.fixture
def pg(tmp_path: Any) -> Iterator[Wiring]:
    with database("postgresql", tmp_path) as url:
        w = wire(Settings(database_url=url))
        yield w
        w.engine.dispose()


def _copy_end_failing(monkeypatch: pytest.MonkeyPatch, *, cut: bool) -> None:
    """psycopg's end of COPY failing to unpack the server's answer; with `cut`, after the server session was
    cut, as PostgreSQL stopping behind PgBouncer leaves it."""
    real = psycopg._copy.copy_end

    def copy_end(pgconn: Any, error: bytes | None) -> Any:
        if not cut:
            raise ValueError(UNPACK_FAILED)
        terminate_backend(pgconn.backend_pid)
        try:
            return (yield from real(pgconn, error))
        except psycopg.OperationalError:
            raise ValueError(UNPACK_FAILED) from None

    monkeypatch.setattr(psycopg._copy, "copy_end", copy_end)


def _stored(w: Wiring) -> int:
    with w.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(login_failures)).scalar_one())


def test_copy_cut_as_it_ends_is_a_dropped_connection_refused_with_wsec0004_and_nothing_is_written(
    pg: Wiring, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_end_failing(monkeypatch, cut=True)
    with pytest.raises(ServiceUnavailable) as refused, pg.uow_factory() as uow:
        bulk.insert_rows(uow.session, login_failures, NAMES, ROWS)
        uow.commit()
    dropped = refused.value.__cause__
    assert isinstance(dropped, DBAPIError) and dropped.connection_invalidated
    assert isinstance(dropped.orig, psycopg.OperationalError)
    assert str(dropped.orig) == "the connection was lost while ending COPY"
    assert isinstance(dropped.__cause__, ValueError)
    monkeypatch.undo()
    assert _stored(pg) == 0
    # The pool gives the next unit of work a sound connection.
    with pg.uow_factory() as uow:
        bulk.insert_rows(uow.session, login_failures, NAMES, ROWS)
        uow.commit()
    assert _stored(pg) == len(ROWS)


def test_a_value_error_on_a_sound_connection_is_not_taken_for_a_dropped_one(
    pg: Wiring, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_end_failing(monkeypatch, cut=False)
    with pytest.raises(ValueError, match="too many values"), pg.uow_factory() as uow:
        bulk.insert_rows(uow.session, login_failures, NAMES, ROWS)
        uow.commit()
    monkeypatch.undo()
    assert _stored(pg) == 0
