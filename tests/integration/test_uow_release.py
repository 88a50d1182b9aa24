"""The end of a SOAP call's unit of work: the connection goes back to the pool rolled back once, with no
transaction left open on it, also after a failed flush; a rollback that fails is logged and its connection
is not used again. A unit of work entered again works on its new session only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from support.demo import DEMO1_USER, ORG1, TEST_LEARNER

from lrs_ws.app import Wiring
from lrs_ws.domain import model


def _dbapi_connection(uow: Any) -> Any:
    return uow.session.connection().connection.dbapi_connection


def _no_transaction_open(dbapi_connection: Any) -> bool:
    if hasattr(dbapi_connection, "in_transaction"):  # sqlite3
        return not dbapi_connection.in_transaction
    from psycopg.pq import TransactionStatus

    return bool(dbapi_connection.info.transaction_status == TransactionStatus.IDLE)


def _count_rollbacks(wiring: Wiring, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    rollbacks: list[Any] = []
    rollback = wiring.engine.dialect.do_rollback
    monkeypatch.setattr(
        wiring.engine.dialect, "do_rollback", lambda conn: rollbacks.append(conn) or rollback(conn)
    )
    return rollbacks


def _held_read(wiring: Wiring) -> tuple[Any, Any]:
    """A call's shape: authentication and the operation, two blocks of one held unit of work; the unit of
    work (not yet released) and its DBAPI connection."""
    uow = wiring.uow_factory()
    uow.hold()
    with uow:
        assert uow.users.by_username(DEMO1_USER) is not None
    with uow:
        assert uow.learners.view(TEST_LEARNER) is not None
        dbapi_connection = _dbapi_connection(uow)
    return uow, dbapi_connection


def test_a_released_unit_of_work_rolls_back_once_and_gives_its_connection_back_with_no_transaction_open(
    demo_wiring: Wiring, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollbacks = _count_rollbacks(demo_wiring, monkeypatch)
    uow, dbapi_connection = _held_read(demo_wiring)
    assert rollbacks == []

    uow.release()

    assert len(rollbacks) == 1  # the pool does not reset the connection a second time
    pooled = demo_wiring.engine.raw_connection()
    try:
        assert pooled.dbapi_connection is dbapi_connection  # given back to the pool, not dropped
        assert _no_transaction_open(pooled.dbapi_connection)
    finally:
        pooled.close()


def test_a_call_that_caught_a_failed_flush_is_released_with_its_transaction_rolled_back(
    demo_wiring: Wiring,
) -> None:
    uow = demo_wiring.uow_factory()
    uow.hold()
    with uow:
        dbapi_connection = _dbapi_connection(uow)
        uow.organisations.add(model.Organisation(ref=ORG1, name="A second DEMO01", ukprn="10000000"))
        with pytest.raises(IntegrityError):
            uow.flush()  # the session's transaction is now inactive until rolled back

    uow.release()

    pooled = demo_wiring.engine.raw_connection()
    try:
        assert pooled.dbapi_connection is dbapi_connection
        assert _no_transaction_open(pooled.dbapi_connection)
    finally:
        pooled.close()


def test_a_rollback_that_fails_on_release_is_logged_and_its_connection_is_not_used_again(
    demo_wiring: Wiring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    uow, dbapi_connection = _held_read(demo_wiring)
    dialect = demo_wiring.engine.dialect

    def broken(_conn: Any) -> None:
        raise dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patch, caplog.at_level("WARNING", logger="lrs_ws.db"):
        patch.setattr(dialect, "do_rollback", broken)
        uow.release()  # the call's answer is in hand: nothing is raised
    assert [r.getMessage() for r in caplog.records if r.name == "lrs_ws.db"] == ["rollback failed"]

    next_uow, next_connection = _held_read(demo_wiring)
    next_uow.release()
    assert next_connection is not dbapi_connection


def test_a_unit_of_work_entered_again_reads_and_writes_through_its_new_session(demo_wiring: Wiring) -> None:
    uow = demo_wiring.uow_factory()
    now = datetime.now(UTC)
    with uow:
        first = uow.login_failures  # made on the first block's session
        assert first.count_since(DEMO1_USER, "192.0.2.1", now - timedelta(hours=1)) == 0
    with uow:
        assert uow.login_failures is not first
        assert uow.login_failures.reserve(DEMO1_USER, "192.0.2.1", now, now - timedelta(hours=1), limit=5)
        uow.commit()
    with demo_wiring.uow_factory() as other:
        assert other.login_failures.count_since(DEMO1_USER, "192.0.2.1", now - timedelta(hours=1)) == 1
