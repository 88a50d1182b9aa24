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


def test_without_prepared_statements_every_transaction_through_pgbouncer_succeeds(topology: Topology) -> None:
    assert _errors_under_concurrency(topology.url, prepared=False) == []


def test_with_psycopg_s_default_prepared_statements_pgbouncer_s_transaction_pooling_fails(
    topology: Topology,
) -> None:
    assert _errors_under_concurrency(topology.url, prepared=True)
