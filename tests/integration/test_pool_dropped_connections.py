"""A pooled PostgreSQL connection is used without a ping; one the server closed while it sat in the pool is
replaced before use, so the call that takes it never sees it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from support.demo import DEMO1_USER
from support.pg import libpq_url, postgres_url

from lrs_ws.app import Wiring, wire
from lrs_ws.config import Settings


@pytest.fixture
def pg_demo(demo_wiring: Wiring) -> Iterator[Wiring]:
    if demo_wiring.engine.dialect.name != "postgresql":
        pytest.skip("the pool's checkout check is PostgreSQL's")
    w = wire(Settings(database_url=demo_wiring.settings.database_url))
    yield w
    w.engine.dispose()


def _read_user_id(w: Wiring) -> int:
    with w.uow_factory() as uow:
        user = uow.users.by_username(DEMO1_USER)
        assert user is not None and user.id is not None
        return user.id


def _terminate(pid: int) -> None:
    import psycopg

    admin = postgres_url()
    assert admin is not None
    with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(50):
            left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            if left == (0,):
                return
            time.sleep(0.1)
    raise AssertionError(f"backend {pid} still there")


def test_a_connection_the_server_closed_in_the_pool_is_replaced_unseen_and_none_is_pinged(
    pg_demo: Wiring, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[Any] = []
    ping = pg_demo.engine.dialect.do_ping
    monkeypatch.setattr(pg_demo.engine.dialect, "do_ping", lambda conn: pings.append(conn) or ping(conn))
    user_id = _read_user_id(pg_demo)
    with pg_demo.engine.connect() as conn:  # the one connection the pool holds
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    _terminate(backend)

    assert _read_user_id(pg_demo) == user_id  # no WSEC0004: the closed connection was never used
    with pg_demo.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    assert _read_user_id(pg_demo) == user_id
    assert pings == []
