"""Engine and session factory, created only when the app is wired (never at import time)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import InternalError
from sqlalchemy.orm import Session, sessionmaker


def treat_lost_protocol_as_disconnect(context: ExceptionContext) -> None:
    """psycopg raises InternalError without a SQLSTATE ("received 2 results from command 'ROLLBACK'") when it
    loses track of the server's replies, e.g. as PgBouncer or PostgreSQL goes away mid-command. The connection
    is then as unusable as a dropped one: say so, so that the pool replaces it and the caller is told to retry
    (WSEC0004) instead of meeting an unexpected failure. An InternalError the server sent has a SQLSTATE."""
    if isinstance(context.sqlalchemy_exception, InternalError) and (
        getattr(context.original_exception, "sqlstate", "") is None
    ):
        context.is_disconnect = True


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the backend: SQLite gets WAL, a busy timeout (`connect_args["timeout"]`, 30 s
    unless given) and foreign keys."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        busy_ms = int(float(kwargs["connect_args"].get("timeout", 30)) * 1000)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "handle_error", treat_lost_protocol_as_disconnect)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
