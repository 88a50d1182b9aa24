"""Fixtures for the modules that start a live server of their own (a module-scoped `server`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from support.server import LiveServer
from support.soap import client_for


@pytest.fixture(scope="module")
def engine(server: LiveServer) -> Iterator[Any]:
    """An engine on the module server's database."""
    e = create_engine(server.database_url)
    yield e
    e.dispose()


@pytest.fixture(scope="module")
def lrs(server: LiveServer) -> Any:
    """A zeep client of the module server's WSDL."""
    return client_for(server.soap_url)
