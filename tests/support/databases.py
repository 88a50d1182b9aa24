"""Every database a test needs, built one way: on SQLite or PostgreSQL, `BLANK` (never migrated), `MIGRATED`
(empty, at head) or `DEMO` (at head, holding the demo data).

`build_database` / `remove_database` for a database kept across tests (a module's or a session's);
`database` as a context manager for one used and dropped in one place. conftest.py's fixtures are built on
these.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest

from lrs_ws.db.migrate import upgrade
from support import pg

Contents = Literal["blank", "migrated", "demo"]
BLANK: Contents = "blank"
MIGRATED: Contents = "migrated"
DEMO: Contents = "demo"


def build_database(
    backend: str, directory: Path | None, contents: Contents = MIGRATED, *, admin_url: str | None = None
) -> str:
    """A new database on `backend` holding `contents`; its URL.

    SQLite: a new file in `directory`. PostgreSQL: a database of its own on the test session's server, or
    on the server of `admin_url` (a cluster a test stops and starts); the test skips when there is none.
    """
    if backend == "sqlite":
        assert directory is not None, "a SQLite database needs a directory"
        url = f"sqlite:///{directory / f'lrs_{uuid.uuid4().hex[:8]}.sqlite3'}"
    else:
        admin = admin_url or pg.postgres_url()
        if admin is None:
            pytest.skip("no PostgreSQL server available")
        url = pg.create_database(admin, "lrs_test")
    if contents != BLANK:
        upgrade(url)
    if contents == DEMO:
        load_demo_data(url)
    return url


def load_demo_data(url: str) -> None:
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.service import demo

    w = wire(Settings(database_url=url))
    try:
        demo.load(w.uow_factory())
    finally:
        w.engine.dispose()


def remove_database(backend: str, url: str, *, admin_url: str | None = None) -> None:
    """Drop a PostgreSQL database made by `build_database` (a SQLite file goes with its directory)."""
    if backend == "postgresql":
        admin = admin_url or pg.postgres_url()
        if admin is not None:
            pg.drop_database(admin, url)


@contextmanager
def database(
    backend: str, directory: Path | None, contents: Contents = MIGRATED, *, admin_url: str | None = None
) -> Iterator[str]:
    """`build_database`, dropped again on leaving the block."""
    url = build_database(backend, directory, contents, admin_url=admin_url)
    try:
        yield url
    finally:
        remove_database(backend, url, admin_url=admin_url)
