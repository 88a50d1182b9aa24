"""The service installed from its wheel, outside any checkout: the wheel is built, installed with the locked
runtime dependencies into a new venv, and run from an empty directory (migrate, demo data, `lrs-ws serve`,
and gunicorn started directly)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from support.demo import TEST_LEARNER
from support.server import free_port
from support.soap import DEMO1, client_for

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def sh(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the wheel and the locked runtime dependencies, nothing else."""
    base = tmp_path_factory.mktemp("wheel")
    sh([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--wheel-dir", str(base / "dist")])
    (wheel,) = (base / "dist").glob("lrs_ws-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "lrs_ws/alembic.ini" in names and "lrs_ws/migrations/env.py" in names
    assert any(n.startswith("lrs_ws/migrations/versions/0001") for n in names)
    venv = base / "venv"
    sh([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    sh([*pip, "--require-hashes", "-r", str(REPO / "requirements" / "runtime.txt")])
    sh([*pip, "--no-deps", str(wheel)])
    return venv


def env_for(workdir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LRS_WS_", "PYTHON", "VIRTUAL_ENV", "PROMETHEUS_"))
    }
    return {**env, "HOME": str(workdir), **extra}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


@contextmanager
def serving(args: list[str], workdir: Path, port: int, log: Path, **extra: str) -> Iterator[str]:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args,
            cwd=workdir,
            env=env_for(workdir, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError(f"not ready within 60 s: {log.read_text()[-3000:]}")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def answers(base: str) -> None:
    wsdl = requests.get(f"{base}/ExternalService.svc?wsdl", timeout=10)
    assert wsdl.status_code == 200 and f'location="{base}/ExternalService.svc"'.encode() in wsdl.content
    soap = client_for(f"{base}/ExternalService.svc")
    found = soap.GetLearnerAchievements(invokingUser=DEMO1, uln=TEST_LEARNER)
    assert found.TotalCount == 3


def test_the_installed_wheel_migrates_loads_demo_data_and_serves_from_an_empty_directory(
    installed: Path, workdir: Path, tmp_path: Path
) -> None:
    bin_ = installed / "bin"
    where = sh(
        [str(bin_ / "python"), "-c", "import lrs_ws; print(lrs_ws.__file__)"],
        cwd=workdir,
        env=env_for(workdir),
    ).stdout
    assert where.startswith(str(installed)), where

    done = sh([str(bin_ / "lrs-ws"), "db", "upgrade"], cwd=workdir, env=env_for(workdir))
    assert done.stdout.startswith("database upgraded from none (empty database) to ")
    assert (workdir / "lrs_ws.sqlite3").exists()
    done = sh([str(bin_ / "lrs-ws"), "demo-data"], cwd=workdir, env=env_for(workdir))
    assert done.stdout == "demo data loaded\n"

    port = free_port()
    serve = [str(bin_ / "lrs-ws"), "serve", "--port", str(port), "--workers", "1", "--no-worker"]
    with serving(serve, workdir, port, tmp_path / "serve.log") as base:
        answers(base)

    port = free_port()
    gunicorn = [
        str(bin_ / "gunicorn"),
        "-c",
        "python:lrs_ws.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "lrs_ws.wsgi:application",
    ]
    public = f"http://127.0.0.1:{port}/ExternalService.svc"
    with serving(
        gunicorn,
        workdir,
        port,
        tmp_path / "gunicorn.log",
        LRS_WS_PUBLIC_URL=public,
        LRS_WS_RUN_WORKER="false",
    ) as base:
        answers(base)
    # Everything the service wrote is its database (with SQLite's WAL files).
    written = {p.name for p in workdir.iterdir()}
    assert written <= {"lrs_ws.sqlite3", "lrs_ws.sqlite3-shm", "lrs_ws.sqlite3-wal"}
