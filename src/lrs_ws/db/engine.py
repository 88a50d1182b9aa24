"""Engine and session factory, created only when the app is wired (never at import time)."""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError, InternalError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from lrs_ws.db import feed


def treat_lost_protocol_as_disconnect(context: ExceptionContext) -> None:
    """psycopg raises InternalError without a SQLSTATE ("received 2 results from command 'ROLLBACK'") when it
    loses track of the server's replies, e.g. as PgBouncer or PostgreSQL goes away mid-command. The connection
    is then as unusable as a dropped one: say so, so that the pool replaces it and the caller is told to retry
    (WSEC0004) instead of meeting an unexpected failure. An InternalError the server sent has a SQLSTATE."""
    if isinstance(context.sqlalchemy_exception, InternalError) and (
        getattr(context.original_exception, "sqlstate", "") is None
    ):
        context.is_disconnect = True


# A pooled PostgreSQL connection is replaced after this many seconds, however healthy: a firewall or proxy
# that forgets idle connections without closing them cannot leave one behind for long.
RECYCLE_SECONDS = 600


def replace_connection_closed_in_pool(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout: a connection the server closed while it sat in the pool (PostgreSQL or PgBouncer
    restarted, the backend was terminated) is replaced before it is used, so the call never sees it.

    An idle connection has nothing to read; a closed one has the server's goodbye or the end of the stream.
    One poll() of its socket tells them apart without the round trip a pre-ping costs on every checkout.
    A connection lost in the middle of a call is still a WSEC0004 for that call (lrs_ws.db.uow), after
    which the pool holds none of the connections it had before the loss."""
    if dbapi_conn.closed or dbapi_conn.broken:
        raise DisconnectionError("connection closed")
    poll = select.poll()
    poll.register(dbapi_conn.fileno(), select.POLLIN)
    if poll.poll(0):
        raise DisconnectionError("connection closed by the server while pooled")


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
    kwargs.setdefault("pool_recycle", RECYCLE_SECONDS)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "handle_error", treat_lost_protocol_as_disconnect)
    event.listen(engine, "checkout", replace_connection_closed_in_pool)
    return engine


# Session.info key: the session's transaction has written something (a flush or a write statement).
WROTE = "lrs_ws.wrote"


def _note_write(state: ORMExecuteState) -> None:
    if not state.is_select:
        state.session.info[WROTE] = True


def _note_flush(session: Session, _context: Any) -> None:
    session.info[WROTE] = True


def _transaction_ended(session: Session, *_: Any) -> None:
    session.info.pop(WROTE, None)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
    event.listen(factory, "do_orm_execute", _note_write)
    event.listen(factory, "after_flush", _note_flush)
    event.listen(factory, "after_commit", _transaction_ended)
    event.listen(factory, "after_rollback", _transaction_ended)
    feed.watch(factory)
    return factory
