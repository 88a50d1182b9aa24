"""A PostgreSQL server for the tests.

`postgres_url()` answers with the SQLAlchemy URL of an administrative database on a usable server:
the one named by ``LRS_WS_TEST_PG_URL``, or else a throwaway cluster started from the local
PostgreSQL binaries once per process and removed at exit. Without either it answers ``None`` and
the tests that need PostgreSQL skip.

`create_database()` / `drop_database()` give each test module or session a database of its own.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ENV_VAR = "LRS_WS_TEST_PG_URL"
PREFERRED_VERSION = "15"
STARTUP_TIMEOUT = 30.0
SUPERUSER = "postgres"

_lock = threading.Lock()
_resolved = False
_cluster_url: str | None = None
_cluster_error: Exception | None = None


def postgres_url() -> str | None:
    """Return a SQLAlchemy URL for a usable PostgreSQL server, or None when there is none.

    ``LRS_WS_TEST_PG_URL`` wins when set. Otherwise a local cluster is started on the first call
    and reused for the rest of the process. A cluster that fails to start raises: binaries that are
    present but unusable should be noticed, not turned into skipped tests.
    """
    url = os.environ.get(ENV_VAR)
    if url:
        return url
    global _resolved, _cluster_url, _cluster_error
    with _lock:
        if not _resolved:
            _resolved = True
            bindir = _find_bindir()
            try:
                _cluster_url = _Cluster(bindir).start() if bindir is not None else None
            except Exception as exc:
                _cluster_error = exc
        if _cluster_error is not None:
            raise RuntimeError("the local PostgreSQL cluster could not be started") from _cluster_error
        return _cluster_url


def private_cluster() -> _Cluster | None:
    """A throwaway cluster of one's own, to stop and start again in a test (`stop_fast`, `start_again`);
    None without local PostgreSQL binaries. `close()` removes it (it is removed at exit anyway)."""
    bindir = _find_bindir()
    if bindir is None:
        return None
    cluster = _Cluster(bindir)
    cluster.start()
    return cluster


def create_database(admin_url: str, name: str) -> str:
    """Create a new, empty database named after `name` with a unique suffix; return its URL.

    `admin_url` is any URL from `postgres_url()`; the new URL differs from it only in the database.
    """
    dbname = _unique_name(name)
    with _admin_connection(admin_url) as conn:
        create = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")
        conn.execute(create.format(sql.Identifier(dbname)))
    return make_url(admin_url).set(database=dbname).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database made by `create_database`, disconnecting whoever still uses it.

    `name` is the database name or the URL that `create_database` returned. A missing database is
    not an error.
    """
    dbname = make_url(name).database if "://" in name else name
    if not dbname:
        raise ValueError(f"no database name in {name!r}")
    with _admin_connection(admin_url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def terminate_backend(pid: int) -> None:
    """Cut one server session (as a PostgreSQL restart would), and wait until it is gone."""
    admin = postgres_url()
    assert admin is not None
    with _admin_connection(admin) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(50):
            left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            if left == (0,):
                return
            time.sleep(0.1)
    raise AssertionError(f"backend {pid} still there")


def libpq_url(url: str) -> str:
    """Turn a SQLAlchemy URL (``postgresql+psycopg://...``) into one that psycopg/libpq accept."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin_connection(admin_url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(admin_url), autocommit=True, connect_timeout=10)


def _unique_name(name: str) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "lrs_test"
    # PostgreSQL truncates identifiers at 63 bytes; keep the suffix that makes the name unique.
    return f"{base[:50]}_{uuid.uuid4().hex[:12]}"


def _find_bindir() -> Path | None:
    """The bin directory of the preferred PostgreSQL version, else of the newest one installed."""
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    usable = [p for p in candidates if (p / "initdb").is_file() and (p / "postgres").is_file()]
    if not usable:
        return None

    def version_key(p: Path) -> tuple[int, tuple[int, ...]]:
        version = p.parent.name
        parts = tuple(int(x) for x in re.findall(r"\d+", version))
        return (version == PREFERRED_VERSION, parts)

    return max(usable, key=version_key)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Cluster:
    """A throwaway cluster in a temporary directory, stopped and removed at interpreter exit."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # initdb and postgres refuse to run as root.
        self.as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="lrs_ws_pg_"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.url = ""
        # A forked child inherits atexit handlers; only the process that started the server stops it.
        self.owner_pid = os.getpid()
        atexit.register(self.stop)

    def start(self) -> str:
        self.sockets.mkdir()
        if self.as_postgres:
            shutil.chown(self.root, SUPERUSER, SUPERUSER)
            shutil.chown(self.sockets, SUPERUSER, SUPERUSER)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        # The port is free when chosen but another process may take it first: retry a few times.
        for _attempt in range(3):
            port = _free_port()
            if self._start_server(port):
                self.url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/postgres"
                return self.url
        raise RuntimeError(f"PostgreSQL did not start; its log:\n{self._log_tail()}")

    def stop_fast(self) -> None:
        """`pg_ctl stop -m fast`: every session is cut and the server is down until `start_again`."""
        self._run([str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "30"])
        if self.proc is not None:
            self.proc.wait(timeout=30)
            self.proc = None

    def start_again(self) -> None:
        """The same data directory on the same port."""
        if not self._start_server(self.port):
            raise RuntimeError(f"PostgreSQL did not start again; its log:\n{self._log_tail()}")

    def close(self) -> None:
        self.stop()

    def _start_server(self, port: int) -> bool:
        self.port = port
        cmd = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(port),
            "-k",
            str(self.sockets),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self._wrap(cmd), cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        conninfo = f"host=127.0.0.1 port={port} user={SUPERUSER} dbname=postgres connect_timeout=2"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                with psycopg.connect(conninfo) as conn:
                    conn.execute("SELECT 1")
                return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        log_tail = self._log_tail()
        self.stop()
        raise RuntimeError(f"PostgreSQL accepted no connection within {STARTUP_TIMEOUT:.0f}s:\n{log_tail}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster), then remove the directory. Safe to call twice."""
        if os.getpid() != self.owner_pid:
            return
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            # With runuser in between, signal the postmaster itself rather than rely on forwarding.
            pid = self._postmaster_pid() or proc.pid
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pm = self._postmaster_pid()
                if pm is not None:
                    try:
                        os.kill(pm, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                proc.kill()
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def _postmaster_pid(self) -> int | None:
        try:
            first_line = (self.data / "postmaster.pid").read_text().splitlines()[0]
            return int(first_line.strip())
        except (OSError, IndexError, ValueError):
            return None

    def _wrap(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", SUPERUSER, "--", *cmd] if self.as_postgres else cmd

    def _run(self, cmd: list[str]) -> None:
        result = subprocess.run(
            self._wrap(cmd), cwd=self.root, stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        if result.returncode != 0:
            output = result.stdout + result.stderr
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{output}")

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


__all__ = ["ENV_VAR", "create_database", "drop_database", "libpq_url", "postgres_url"]
