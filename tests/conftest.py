"""Fixtures stacked by layer: backend -> database URL -> wiring/uow -> live server -> zeep client.

Every database-backed test runs on SQLite and on PostgreSQL (skipped only when no PostgreSQL can be found
outside CI; in CI its absence fails tests/integration/test_postgres_available.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from support.databases import BLANK, DEMO, MIGRATED, database
from support.server import LiveServer
from support.soap import client_for

from lrs_ws.app import Wiring, wire
from lrs_ws.config import Settings

# CI replays the same generated examples each run (a finding there must be reproducible, not luck);
# developers' runs explore new ones.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI", "").lower() == "true":
    hypothesis_settings.load_profile("ci")

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def blank_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own for one test, never migrated."""
    with database(backend, tmp_path, BLANK) as url:
        yield url


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of its own for one test."""
    with database(backend, tmp_path, MIGRATED) as url:
        yield url


def settings_for(url: str, **changes: Any) -> Settings:
    return Settings(database_url=url).with_(**changes)


@pytest.fixture
def wiring(empty_db_url: str) -> Iterator[Wiring]:
    w = wire(settings_for(empty_db_url))
    yield w
    w.engine.dispose()


@pytest.fixture
def uow_factory(wiring: Wiring) -> Any:
    return wiring.uow_factory


@pytest.fixture
def demo_wiring(wiring: Wiring) -> Wiring:
    """A per-test database holding the demo data."""
    from lrs_ws.service import demo

    demo.load(wiring.uow_factory())
    return wiring


@pytest.fixture(scope="session")
def demo_db_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database with demo data per backend, shared by the live-server tests of a session."""
    with database(backend, tmp_path_factory.mktemp(f"db-{backend}"), DEMO) as url:
        yield url


@pytest.fixture(scope="session")
def live_server(
    demo_db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """gunicorn with 2 workers over the shared demo database."""
    server = LiveServer(demo_db_url, tmp_path_factory.mktemp("server") / f"gunicorn-{backend}.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def soap(live_server: LiveServer) -> Any:
    """A zeep service proxy built from the live server's WSDL."""
    return client_for(live_server.soap_url)


@pytest.fixture(scope="session")
def live_wiring(demo_db_url: str) -> Iterator[Wiring]:
    """Direct database access to the live server's database, to check what a call changed."""
    w = wire(settings_for(demo_db_url))
    yield w
    w.engine.dispose()
