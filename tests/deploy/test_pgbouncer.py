"""Through PgBouncer 1.18 in transaction pooling, psycopg's prepared statements break; with
LRS_WS_DATABASE_PREPARED_STATEMENTS=false the service's engine never prepares one."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from deploy.topology import Topology
from lrs_ws.app import wire
from lrs_ws.config import Settings

pytestmark = pytest.mark.deploy


def _errors_under_concurrency(url: str, prepared: bool) -> list[str]:
    wiring = wire(Settings(database_url=url, database_prepared_statements=prepared))
    errors: list[str] = []

    def run() -> None:
        for i in range(60):
            try:
                with wiring.engine.begin() as conn:
                    conn.execute(text("SELECT count(*) FROM achievements WHERE uln = :u"), {"u": str(i)})
            except Exception as exc:  # every failure is counted
                errors.append(type(exc).__name__)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    wiring.engine.dispose()
    return errors


def _error_after_moving_to_another_server(url: str, prepared: bool) -> str | None:
    """One client connection runs a statement often enough for psycopg to prepare it (its fifth run), each
    time in a transaction of its own; a second client then holds the server connection PgBouncer gave the
    first (it hands out the most recently released one), so the first's next transaction runs on another
    server connection. The driver's error that transaction meets, if any, by its class name."""
    wiring = wire(Settings(database_url=url, database_prepared_statements=prepared))
    query = text("SELECT count(*) FROM achievements WHERE uln = :u")
    try:
        with wiring.engine.connect() as first, wiring.engine.connect() as second:
            for i in range(8):
                with first.begin():
                    first.execute(query, {"u": str(i)})
            with second.begin():
                second.execute(text("SELECT 1"))
                try:
                    with first.begin():
                        first.execute(query, {"u": "again"})
                except Exception as exc:  # the failure is what is looked at
                    return type(getattr(exc, "orig", exc)).__name__
        return None
    finally:
        wiring.engine.dispose()


def test_without_prepared_statements_every_transaction_through_pgbouncer_succeeds(topology: Topology) -> None:
    assert _errors_under_concurrency(topology.url, prepared=False) == []


def test_without_prepared_statements_a_connection_moved_to_another_server_connection_goes_on(
    topology: Topology,
) -> None:
    assert _error_after_moving_to_another_server(topology.url, prepared=False) is None


def test_with_psycopg_s_default_prepared_statements_pgbouncer_s_transaction_pooling_fails(
    topology: Topology,
) -> None:
    # The statement psycopg prepared on the first server connection does not exist on the second.
    assert _error_after_moving_to_another_server(topology.url, prepared=True) == "InvalidSqlStatementName"
