"""/healthz says the process answers; /readyz says the database answers and its schema is at head. Live
gunicorn on SQLite and PostgreSQL: a database never migrated, one behind, one at head, one unreachable."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from alembic import command
from alembic.script import ScriptDirectory
from support.databases import BLANK, build_database
from support.demo import TEST_LEARNER
from support.server import LiveServer, free_port
from support.soap import DEMO1, client_for, fault_code
from zeep.exceptions import Fault

from lrs_ws.db.migrate import alembic_config, head_revision, upgrade


def _get(server: LiveServer, path: str) -> tuple[int, dict[str, object]]:
    response = requests.get(f"{server.base_url}{path}", timeout=10)
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, response.json()


def _previous_of_head() -> str:
    down = ScriptDirectory.from_config(alembic_config("")).get_revision(head_revision()).down_revision
    assert isinstance(down, str)
    return down


def test_readyz_follows_the_schema_from_missing_to_behind_to_head_while_healthz_stays_up(
    blank_db_url: str, tmp_path: Path
) -> None:
    server = LiveServer(blank_db_url, tmp_path / "gunicorn.log", workers=1).start()
    try:
        assert _get(server, "/healthz") == (200, {"status": "ok"})
        assert _get(server, "/readyz") == (
            503,
            {"status": "unavailable", "reason": "schema missing: run lrs-ws db upgrade"},
        )

        behind = _previous_of_head()
        upgrade(blank_db_url, behind)
        assert _get(server, "/readyz") == (
            503,
            {
                "status": "unavailable",
                "reason": f"schema at {behind}, head is {head_revision()}: run lrs-ws db upgrade",
            },
        )

        upgrade(blank_db_url)
        assert _get(server, "/readyz") == (200, {"status": "ok", "maintenance": None})

        command.downgrade(alembic_config(blank_db_url), "-1")
        status, body = _get(server, "/readyz")
        assert status == 503 and body["reason"] == (
            f"schema at {behind}, head is {head_revision()}: run lrs-ws db upgrade"
        )
        assert _get(server, "/healthz") == (200, {"status": "ok"})
    finally:
        server.stop()
    assert "schema missing" in server.log_text()


def test_an_unmigrated_database_is_named_in_the_request_log_and_the_batch_worker_refuses_to_start(
    tmp_path: Path,
) -> None:
    url = build_database("sqlite", tmp_path, BLANK)
    server = LiveServer(url, tmp_path / "gunicorn.log", workers=1, batch_worker=True)
    server.start()
    try:
        soap = client_for(server.soap_url)
        with pytest.raises(Fault) as refused:
            soap.GetLearnerAchievements(invokingUser=DEMO1, uln=TEST_LEARNER)
        assert fault_code(refused.value) == "WSEC0199"
        assert server.worker is not None
        assert server.worker.wait(timeout=60) == 2
    finally:
        server.stop()
    log = server.log_text()
    request_errors = [line for line in log.splitlines() if '"unhandled error"' in line]
    assert request_errors, log[-3000:]
    assert '"error": "OperationalError: no such table: ' in request_errors[0]
    assert f"lrs-ws: the database at {url} is not migrated (schema missing): run `lrs-ws db upgrade`" in log
    assert "SELECT" not in log and "Traceback" not in log


def test_readyz_names_an_unreachable_database_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://lrs:Secret-Pw-42@127.0.0.1:{free_port()}/lrs"
    server = LiveServer(url, tmp_path / "gunicorn.log", workers=1).start()
    try:
        status, body = _get(server, "/readyz")
        assert _get(server, "/healthz") == (200, {"status": "ok"})
    finally:
        server.stop()
    assert status == 503 and body["status"] == "unavailable"
    assert str(body["reason"]).startswith("database unreachable: OperationalError: connection failed")
    assert "Secret-Pw-42" not in str(body) and "Secret-Pw-42" not in server.log_text()
