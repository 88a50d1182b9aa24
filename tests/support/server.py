"""A live gunicorn server on loopback for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    database_url: str
    log_path: Path
    workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    # Also run an `lrs-ws worker` process for the batch jobs (gunicorn itself never processes them).
    batch_worker: bool = False
    # More gunicorn options, after the configuration file (so they override it).
    gunicorn_args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def soap_url(self) -> str:
        return f"{self.base_url}/ExternalService.svc"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "LRS_WS_DATABASE_URL": self.database_url,
                "LRS_WS_PUBLIC_URL": self.soap_url,
                # Many tests send wrong passwords on purpose; throttling has tests (and servers) of its own.
                "LRS_WS_LOGIN_FAILURE_LIMIT": "100000",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> LiveServer:
        # Each child writes to its own copy of the log's descriptor: ours is closed once they have started.
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(self.workers),
                    "--no-control-socket",
                    "--config",
                    "python:lrs_ws.gunicorn_conf",
                    "--graceful-timeout",
                    "5",
                    *self.gunicorn_args,
                    "lrs_ws.wsgi:application",
                ],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            if self.batch_worker:
                self.worker = subprocess.Popen(
                    [str(Path(sys.executable).with_name("lrs-ws")), "worker"],
                    env=self.env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        wait_healthy(self.process, self.base_url, "server", self.log_path, self.stop)
        return self

    def stop(self) -> None:
        for process in (self.process, self.worker):
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_healthy(
    process: subprocess.Popen[bytes], base_url: str, what: str, log_path: Path, give_up: Callable[[], None]
) -> None:
    """Wait until /healthz answers 200; RuntimeError (after `give_up`) if the process exits or 60 s pass."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early; see {log_path}")
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    give_up()
    raise RuntimeError(f"{what} did not answer within 60 s; see {log_path}")


def child_pids(pid: int) -> list[int]:
    """The direct children of a process."""
    try:
        return sorted(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except FileNotFoundError:
        return []


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return ""


@dataclass
class ServeProcess:
    """`lrs-ws serve` as an operator starts it: gunicorn and a supervised `lrs-ws worker` process."""

    database_url: str
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def soap_url(self) -> str:
        return f"{self.base_url}/ExternalService.svc"

    def start(self) -> ServeProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
        env.update(
            {
                "LRS_WS_DATABASE_URL": self.database_url,
                "LRS_WS_LOGIN_FAILURE_LIMIT": "100000",
                **self.extra_env,
            }
        )
        with open(self.log_path, "ab") as log:  # the child writes to its own copy of the descriptor
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("lrs-ws")), "serve", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_healthy(self.process, self.base_url, "lrs-ws serve", self.log_path, self.kill)
        return self

    def gunicorn_master(self) -> int:
        assert self.process is not None
        return next(p for p in child_pids(self.process.pid) if "gunicorn" in command_line(p))

    def batch_worker(self) -> int | None:
        """The pid of the batch worker process, None while there is none."""
        assert self.process is not None
        found = [p for p in child_pids(self.process.pid) if " worker --id " in command_line(p)]
        return found[0] if found else None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM to `lrs-ws serve` only (as systemd or an operator sends it); its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """Stop the whole process group, whatever state it is in."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
