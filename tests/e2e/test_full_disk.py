"""A full disk does not kill the service: on a small tmpfs holding the SQLite database, TMPDIR and the metrics
directory, a live gunicorn keeps answering reads, refuses writes with WSEC0004, boots a replacement worker,
and serves writes again once space is freed — its master and workers alive throughout, never restarted."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.batch import achievement, wait_until
from support.databases import DEMO, build_database
from support.demo import JAMES
from support.server import LiveServer
from support.soap import DEMO1, client_for, expect_fault

from lrs_ws.app import wsdl_text
from lrs_ws.config import Settings

DISK_SIZE = "32m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs of the test's own."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the tests as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(directory: Path) -> Path:
    """Write a file until the file system has not one byte left."""
    path = directory / "filler"
    with open(path, "wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 12, 1 << 8, 1):
            block = b"\0" * size
            try:
                for _ in range(1 << 16):
                    fh.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    assert os.statvfs(directory).f_bavail == 0
    return path


def workers_of(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def two_workers(master: int, not_: int = 0) -> set[int] | None:
    found = workers_of(master)
    return found if len(found) == 2 and not_ not in found else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0


def read(lrs: Any) -> None:
    assert lrs.GetLearnerAchievements(invokingUser=DEMO1, uln=JAMES).Uln == JAMES


def create(lrs: Any, reference: str) -> int:
    made = lrs.CreateAchievement(
        invokingUser=DEMO1, submissionType="Final", achievement=achievement(JAMES, reference, mis=reference)
    )
    return int(made.AchievementId)


def test_a_full_disk_refuses_writes_keeps_reads_and_workers_alive_and_recovers_without_a_restart(
    small_disk: Path, tmp_path: Path
) -> None:
    for name in ("tmp", "metrics"):
        (small_disk / name).mkdir()
    url = build_database("sqlite", small_disk, DEMO)
    server = LiveServer(
        url,
        tmp_path / "server.log",
        extra_env={
            "TMPDIR": str(small_disk / "tmp"),
            "LRS_WS_METRICS_DIR": str(small_disk / "metrics"),
        },
    ).start()
    try:
        assert server.process is not None
        master = server.process.pid
        lrs = client_for(server.soap_url, new_connection_per_call=True)
        read(lrs)
        assert create(lrs, "F/500/0001") > 0
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:  # the next write must grow the WAL file
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        workers = wait_until(lambda: two_workers(master), timeout=30)
        filler = fill(small_disk)

        for _ in range(8):  # enough to reach both workers, each counting samples it never counted before
            read(lrs)
        expect_fault("WSEC0004", create, lrs, "F/500/0002")
        assert alive(master) and workers_of(master) == workers

        # A worker that must be replaced (it crashed, or reached max_requests) starts on the full disk.
        gone = min(workers)
        workers_of_before = set(workers)
        os.kill(gone, signal.SIGKILL)
        workers = wait_until(lambda: two_workers(master, not_=gone), timeout=60)
        (new,) = workers - workers_of_before

        def served_by_the_new_worker() -> bool:
            read(lrs)
            return f'"pid": {new}, "request_id"' in server.log_text()

        wait_until(served_by_the_new_worker, timeout=60)
        # It answered without counting: its metrics file could not be allocated.
        assert "request not counted: the metrics directory cannot be written" in server.log_text()
        expect_fault("WSEC0004", create, lrs, "F/500/0003")
        assert requests.get(f"{server.base_url}/metrics", timeout=30).status_code == 200

        filler.unlink()
        assert create(lrs, "F/500/0004") > 0
        read(lrs)
        scrape = requests.get(f"{server.base_url}/metrics", timeout=30)
        assert scrape.status_code == 200 and 'operation="CreateAchievement"' in scrape.text
        assert alive(master) and workers_of(master) == workers
        assert all(alive(pid) for pid in workers)
        log = server.log_text()
        assert "SIGBUS" not in log and "Worker failed to boot" not in log
    finally:
        server.stop()


def test_a_worker_builds_its_soap_application_without_writing_a_temporary_file(monkeypatch) -> None:
    def no_space(*_args: Any, **_kwargs: Any) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tempfile.mkdtemp", no_space)
    monkeypatch.setattr("tempfile.mkstemp", no_space)
    assert "SubmitAchievementBatchJob" in wsdl_text(Settings())
