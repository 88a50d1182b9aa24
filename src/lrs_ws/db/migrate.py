"""Alembic migrations from code (`lrs-ws db upgrade`, `lrs-ws serve`), and the one readiness check that the
CLI and `/readyz` share.

The migrations live at the repository root (`migrations/`) and are installed as the package
`lrs_ws.migrations` (see setup.py), so a checkout and an installed wheel find them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from lrs_ws.observability.logs import database_cause


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("lrs_ws.migrations")))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["database_url"] = database_url
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "the migrations have no head revision"
    return head


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    return frozenset(s.revision for s in ScriptDirectory.from_config(alembic_config("")).walk_revisions())


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def safe_url(database_url: str) -> str:
    """The database URL as it may be shown: the password masked."""
    return make_url(database_url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class NotReady:
    """Why the database cannot serve: unreachable, or its schema missing or not at head."""

    unreachable: bool
    detail: str  # the driver's error ("OperationalError: ..."), "schema missing" or "schema at X, head is Y"
    upgrade_helps: bool = True

    @property
    def reason(self) -> str:
        if self.unreachable:
            return f"database unreachable: {self.detail}"
        return f"{self.detail}: run lrs-ws db upgrade" if self.upgrade_helps else self.detail


def readiness(engine: Engine) -> NotReady | None:
    """None when the database answers and its schema is at the head revision.

    A SQLite file that does not exist is reported missing without being created by the check.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).exists():
            return NotReady(False, "schema missing")
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    except DBAPIError as exc:
        return NotReady(True, database_cause(exc))
    if current is None:
        return NotReady(False, "schema missing")
    if current not in known_revisions():
        detail = f"schema at {current}, a revision this version does not know (its head is {head_revision()})"
        return NotReady(False, detail, upgrade_helps=False)
    if current != head_revision():
        return NotReady(False, f"schema at {current}, head is {head_revision()}")
    return None
