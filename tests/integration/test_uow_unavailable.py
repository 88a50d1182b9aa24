"""A database that cannot be reached is a ServiceUnavailable (WSEC0004) refusal, not an unexpected failure;
a missing schema is not mistaken for one."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from lrs_ws.app import wire
from lrs_ws.config import Settings
from lrs_ws.domain.errors import ServiceUnavailable
from lrs_ws.soap.faults import error_code


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
    uow = wire(Settings(database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}")).uow_factory()
    with pytest.raises(Exception) as caught, uow:
        uow.users.by_username("demo1.edc")
    assert not isinstance(caught.value, ServiceUnavailable)
