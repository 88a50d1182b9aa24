"""A pooled PostgreSQL connection is used without a ping; one the server closed while it sat in the pool is
replaced before use, so the call that takes it never sees it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from support.demo import DEMO1_USER
from support.pg import terminate_backend

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


def test_a_connection_the_server_closed_in_the_pool_is_replaced_unseen_and_none_is_pinged(
    pg_demo: Wiring, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[Any] = []
    ping = pg_demo.engine.dialect.do_ping
    monkeypatch.setattr(pg_demo.engine.dialect, "do_ping", lambda conn: pings.append(conn) or ping(conn))
    user_id = _read_user_id(pg_demo)
    with pg_demo.engine.connect() as conn:  # the one connection the pool holds
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    terminate_backend(backend)

    assert _read_user_id(pg_demo) == user_id  # no WSEC0004: the closed connection was never used
    with pg_demo.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    assert _read_user_id(pg_demo) == user_id
    assert pings == []
