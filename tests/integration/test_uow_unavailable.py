"""A database that cannot be reached is a ServiceUnavailable (WSEC0004) refusal, not an unexpected failure;
a missing schema is not mistaken for one."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from support.databases import BLANK, build_database

from lrs_ws.app import wire
from lrs_ws.config import Settings
from lrs_ws.domain.error_codes import error_code
from lrs_ws.domain.errors import ServiceUnavailable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_postgresql_is_a_temporary_unavailability() -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{_closed_port()}/none?connect_timeout=2"
    uow = wire(Settings(database_url=url)).uow_factory()
    with pytest.raises(ServiceUnavailable) as caught, uow:
        uow.users.by_username("demo1.edc")
    assert error_code(caught.value) == "WSEC0004"
    assert "nothing was changed" in caught.value.message


def test_a_database_without_the_schema_is_not_called_temporary(tmp_path: Path) -> None:
    uow = wire(Settings(database_url=build_database("sqlite", tmp_path, BLANK))).uow_factory()
    with pytest.raises(Exception) as caught, uow:
        uow.users.by_username("demo1.edc")
    assert not isinstance(caught.value, ServiceUnavailable)


def test_a_driver_that_lost_track_of_the_protocol_is_a_dropped_connection_but_a_server_error_is_not() -> None:
    from types import SimpleNamespace

    import psycopg
    from sqlalchemy.exc import InternalError

    from lrs_ws.db.engine import treat_lost_protocol_as_disconnect

    lost = psycopg.InternalError("received 2 results from command 'ROLLBACK'")
    context = SimpleNamespace(
        sqlalchemy_exception=InternalError("ROLLBACK", None, lost),
        original_exception=lost,
        is_disconnect=False,
    )
    treat_lost_protocol_as_disconnect(context)  # type: ignore[arg-type]
    assert context.is_disconnect

    from_server = psycopg.errors.InternalError_("an internal error the server reported")
    context = SimpleNamespace(
        sqlalchemy_exception=InternalError("SELECT 1", None, from_server),
        original_exception=from_server,
        is_disconnect=False,
    )
    treat_lost_protocol_as_disconnect(context)  # type: ignore[arg-type]
    assert not context.is_disconnect
