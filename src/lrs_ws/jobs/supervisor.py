"""`lrs-ws serve`: gunicorn for the requests and an `lrs-ws worker` process for the batch jobs, side by side.

The batch worker never lives inside a request-serving process: gunicorn kills and replaces its workers (a
request that runs past `timeout`, `max_requests`, a crash), and a job must not pay for that. The supervisor
runs two children and nothing else:

* gunicorn (`lrs_ws.gunicorn_conf`). When it exits, the supervisor stops the worker and exits with
  gunicorn's status.
* `lrs-ws worker` under a worker id the supervisor chose. When it dies without being told to stop (a crash,
  the out-of-memory killer), the job it held is given back at once, counted as a take-over (a job that kills
  its worker every time must still end), and a new worker is started after a short, growing delay.

SIGTERM or SIGINT is passed to both: gunicorn finishes the requests in hand, the worker finishes its chunk
and gives its job back. A worker still busy `WORKER_STOP_SECONDS` later is killed and its job given back
without counting: that stop was not the job's fault.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("lrs_ws.serve")

POLL_SECONDS = 0.2
# A worker that dies again within this many seconds of its start waits longer before the next start.
STEADY_SECONDS = 60.0
MAX_RESTART_DELAY = 30.0
# How long a worker told to stop may take to finish its chunk (a chunk of 1,000 records takes a few seconds).
WORKER_STOP_SECONDS = 30.0

GiveBack = Callable[[str, bool], None]


class Supervisor:
    """Runs `server_argv` and, unless `worker_argv` is None, a worker (`worker_argv` + `--id ID`)."""

    def __init__(
        self,
        server_argv: Sequence[str],
        worker_argv: Sequence[str] | None,
        env: dict[str, str],
        give_back: GiveBack,
        stop_timeout: float = WORKER_STOP_SECONDS,
    ) -> None:
        self.server_argv = list(server_argv)
        self.worker_argv = None if worker_argv is None else list(worker_argv)
        self.env = env
        self.give_back = give_back
        self.stop_timeout = stop_timeout
        self.stopping = False
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_id = ""
        self.starts = 0
        self.started_at = 0.0
        self.quick_deaths = 0
        self.restart_at: float | None = None

    def run(self) -> int:
        """Run both children until the server exits; its exit status."""
        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in signals}
        try:
            self.server = subprocess.Popen(self.server_argv, env=self.env)
            if self.worker_argv is not None:
                self._start_worker()
            while self.server.poll() is None:
                if not self.stopping:
                    self._watch_worker()
                time.sleep(POLL_SECONDS)
            if not self.stopping:
                log.error("the HTTP server exited", extra={"detail": f"status {self.server.returncode}"})
            self._stop_worker()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self.server.returncode

    # -- signals ---------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stopping = True
        for child in (self.server, self.worker):
            if child is not None and child.poll() is None:
                child.send_signal(signum)

    # -- the worker ------------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        assert self.worker_argv is not None
        self.starts += 1
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:worker-{self.starts}"[:100]
        self.worker = subprocess.Popen([*self.worker_argv, "--id", self.worker_id], env=self.env)
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("batch worker process started", extra={"detail": f"{self.worker_id} pid {self.worker.pid}"})

    def _watch_worker(self) -> None:
        if self.worker_argv is None:
            return
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self._start_worker()
            return
        if self.worker is None or self.worker.poll() is None:
            return
        status = self.worker.returncode
        log.error(
            "batch worker process exited; its job is given back and the worker restarted",
            extra={"detail": f"{self.worker_id} status {status}"},
        )
        # Not told to stop, so the cause is unknown: the take-over counts toward failing the job.
        self._give_back(counted=True)
        self.quick_deaths = self.quick_deaths + 1 if now - self.started_at < STEADY_SECONDS else 1
        self.restart_at = now + min(MAX_RESTART_DELAY, 2.0 ** (self.quick_deaths - 1))

    def _stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is None or worker.poll() is not None:
            return
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(self.stop_timeout)
            return
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.warning("batch worker process killed after the stop timeout", extra={"detail": self.worker_id})
        self._give_back(counted=False)

    def _give_back(self, *, counted: bool) -> None:
        try:
            self.give_back(self.worker_id, counted)
        except Exception as exc:
            # The database may be down: the job's lease runs out instead.
            log.error(
                "could not give the batch job back",
                extra={"detail": self.worker_id, "error": type(exc).__name__},
            )
