"""What a person sees when something is wrong before the service even starts: a bad setting, a database that
cannot be reached or is not migrated, a port already taken. The real `lrs-ws` and gunicorn as processes: one
line, exit status 2, no traceback, nothing created."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from support.databases import MIGRATED, build_database
from support.server import free_port

from lrs_ws.db.migrate import head_revision, upgrade

LRS_WS = Path(sys.executable).with_name("lrs-ws")


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    return subprocess.run(
        args,
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr[-2000:])
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        (
            "LRS_WS_MAX_REQUEST_BYTES",
            "10MB",
            "lrs-ws: LRS_WS_MAX_REQUEST_BYTES must be a whole number of at least 1, got '10MB'",
        ),
        (
            "LRS_WS_GUNICORN_WORKERS",
            "abc",
            "lrs-ws: LRS_WS_GUNICORN_WORKERS must be a whole number of at least 1, got 'abc'",
        ),
        (
            "LRS_WS_RUN_WORKER",
            "maybe",
            "lrs-ws: LRS_WS_RUN_WORKER must be true or false (also 1/0, yes/no, on/off), got 'maybe'",
        ),
        (
            "LRS_WS_DEFAULT_PAGE_SIZE",
            "-5",
            "lrs-ws: LRS_WS_DEFAULT_PAGE_SIZE must be a whole number of at least 1, got '-5'",
        ),
        (
            "LRS_WS_MAX_PAGE_SIZE",
            "0",
            "lrs-ws: LRS_WS_MAX_PAGE_SIZE must be a whole number of at least 1, got '0'",
        ),
        (
            "LRS_WS_MAX_PAGE_SIZE",
            "20",
            "lrs-ws: LRS_WS_MAX_PAGE_SIZE (20) must be at least LRS_WS_DEFAULT_PAGE_SIZE (50)",
        ),
        (
            "LRS_WS_WORKER_POLL_SECONDS",
            "soon",
            "lrs-ws: LRS_WS_WORKER_POLL_SECONDS must be a number of at least 0.01, got 'soon'",
        ),
        (
            "LRS_WS_GUNICORN_LOGLEVEL",
            "loud",
            "lrs-ws: LRS_WS_GUNICORN_LOGLEVEL must be one of debug, info, warning, error, critical, "
            "got 'loud'",
        ),
        (
            "LRS_WS_PUBLIC_URL",
            "example.org/svc",
            "lrs-ws: LRS_WS_PUBLIC_URL must be an http:// or https:// URL, got 'example.org/svc'",
        ),
    ],
)
def test_a_setting_with_a_bad_value_stops_lrs_ws_and_gunicorn_with_one_line_naming_it(
    name: str, value: str, line: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'lrs.sqlite3'}"
    for args in (
        [str(LRS_WS), "db", "upgrade"],
        [str(LRS_WS), "wsdl"],
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "-c",
            "python:lrs_ws.gunicorn_conf",
            "lrs_ws.wsgi:application",
        ],
    ):
        done = run(args, tmp_path, LRS_WS_DATABASE_URL=url, **{name: value})
        assert one_line(done) == line, args
    assert not (tmp_path / "lrs.sqlite3").exists()


def test_an_unreachable_database_gives_one_line_naming_it_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://lrs:Secret-Pw-42@127.0.0.1:{free_port()}/lrs"
    for args in (["db", "upgrade"], ["demo-data"], ["batch", "status", "1"]):
        line = one_line(run([str(LRS_WS), *args], tmp_path, LRS_WS_DATABASE_URL=url))
        assert line.startswith(
            f"lrs-ws: cannot reach the database at postgresql+psycopg://lrs:***@{url.split('@')[1]}: "
            "OperationalError: connection failed"
        ), line
        assert "Secret-Pw-42" not in line


def test_a_command_in_an_empty_directory_says_to_migrate_and_creates_no_database_file(tmp_path: Path) -> None:
    line = one_line(run([str(LRS_WS), "demo-data"], tmp_path))
    assert line == (
        f"lrs-ws: the database at sqlite:///{tmp_path / 'lrs_ws.sqlite3'} is not migrated (schema missing): "
        "run `lrs-ws db upgrade`"
    )
    assert list(tmp_path.iterdir()) == []


def test_commands_refuse_a_database_that_is_empty_or_behind_until_it_is_upgraded(
    blank_db_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import make_url

    shown = make_url(blank_db_url).render_as_string(hide_password=True)
    line = one_line(run([str(LRS_WS), "demo-data"], tmp_path, LRS_WS_DATABASE_URL=blank_db_url))
    advice = "run `lrs-ws db upgrade`"
    assert line == f"lrs-ws: the database at {shown} is not migrated (schema missing): {advice}"

    upgrade(blank_db_url, "0003")
    line = one_line(run([str(LRS_WS), "demo-data"], tmp_path, LRS_WS_DATABASE_URL=blank_db_url))
    behind = f"schema at 0003, head is {head_revision()}"
    assert line == f"lrs-ws: the database at {shown} is not migrated ({behind}): {advice}"

    done = run([str(LRS_WS), "db", "upgrade"], tmp_path, LRS_WS_DATABASE_URL=blank_db_url)
    assert done.stdout == f"database upgraded from 0003 to {head_revision()} (the latest revision)\n"
    done = run([str(LRS_WS), "demo-data"], tmp_path, LRS_WS_DATABASE_URL=blank_db_url)
    assert done.returncode == 0 and done.stdout == "demo data loaded\n", done.stderr


def test_serve_on_a_port_already_taken_fails_at_once_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(
            [str(LRS_WS), "serve", "--port", str(port)],
            tmp_path,
            LRS_WS_DATABASE_URL=f"sqlite:///{tmp_path / 'lrs.sqlite3'}",
        )
    assert one_line(done) == f"lrs-ws: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert not (tmp_path / "lrs.sqlite3").exists()


def test_serve_help_shows_the_defaults(tmp_path: Path) -> None:
    done = run([str(LRS_WS), "serve", "--help"], tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "(default: 127.0.0.1)" in text and "(default: 8000)" in text
    assert "LRS_WS_GUNICORN_WORKERS" in text


def test_serve_bound_to_every_interface_publishes_the_host_name_and_warns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lrs_ws.cli import _public_url

    assert _public_url("0.0.0.0", 8001) == f"http://{socket.gethostname()}:8001/ExternalService.svc"
    warning = capsys.readouterr().err
    assert warning.startswith("lrs-ws: warning: LRS_WS_PUBLIC_URL is not set")
    assert "the WSDL would publish http://0.0.0.0:8001/ExternalService.svc" in warning
    assert _public_url("127.0.0.1", 8001) == "http://127.0.0.1:8001/ExternalService.svc"
    assert capsys.readouterr().err == ""


def test_serve_honours_the_workers_setting_and_logs_plain_lines_with_the_json_fields(tmp_path: Path) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'lrs.sqlite3'}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env = {**clean, "LRS_WS_DATABASE_URL": url, "LRS_WS_GUNICORN_WORKERS": "3", "LRS_WS_LOG_JSON": "false"}
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(LRS_WS), "serve", "--port", str(port), "--no-worker"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for _ in range(600):
            assert process.poll() is None, log_path.read_text()[-2000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        wsdl = requests.get(f"http://127.0.0.1:{port}/ExternalService.svc?wsdl", timeout=10)
        assert wsdl.status_code == 200
        for _ in range(300):
            if log_path.read_text().count("Booting worker with pid") >= 3:
                break
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    text = log_path.read_text()
    assert f"INFO gunicorn.error Listening at: http://127.0.0.1:{port}" in text
    assert text.count("Booting worker with pid") == 3
    request_lines = [line for line in text.splitlines() if line.startswith("INFO lrs_ws.request request ")]
    assert request_lines, text[-2000:]
    assert " method=GET operation=wsdl outcome=ok status=200 duration_ms=" in request_lines[0]
    assert " request_id=" in request_lines[0]


def test_a_database_at_a_revision_this_version_does_not_know_is_refused_not_touched(tmp_path: Path) -> None:
    url = build_database("sqlite", tmp_path, MIGRATED)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    line = one_line(run([str(LRS_WS), "demo-data"], tmp_path, LRS_WS_DATABASE_URL=url))
    assert line == (
        f"lrs-ws: the database at {url} is not usable by this version: schema at 9999, a "
        f"revision this version does not know (its head is {head_revision()})"
    )
    line = one_line(run([str(LRS_WS), "db", "upgrade"], tmp_path, LRS_WS_DATABASE_URL=url))
    assert line == f"lrs-ws: cannot upgrade the database at {url}: Can't locate revision identified by '9999'"
