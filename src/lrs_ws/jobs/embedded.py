"""The batch worker thread inside `lrs-ws serve` (and any `gunicorn lrs_ws.wsgi:application`).

gunicorn imports the application in every one of its worker processes; each starts this thread, but only the
one holding an exclusive lock file (one per host and database) runs the worker loop. When that process dies,
its lock goes with it and another process's thread takes over within a few seconds. Any number of
`lrs-ws worker` processes may run beside it: jobs are claimed under leases, so the thread is only one more
worker. `LRS_WS_RUN_WORKER=false` (`lrs-ws serve --no-worker`) turns the thread off.

On shutdown the thread finishes the chunk in hand and gives its job back (see `lrs_ws.lifecycle`, called from
gunicorn's `worker_exit` hook; an `atexit` handler does the same where that hook does not run).
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrs_ws.jobs.worker import run_worker

log = logging.getLogger("lrs_ws.worker")

LOCK_RETRY_SECONDS = 5.0
JOIN_SECONDS = 10.0


def lock_path(database_url: str) -> Path:
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"lrs-ws-batch-worker-{digest}.lock"


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _serve_jobs(wiring: Any, stop: threading.Event) -> None:
    path = lock_path(wiring.settings.database_url)
    fd = _try_lock(path)
    while fd is None:
        if stop.wait(LOCK_RETRY_SECONDS):
            return
        fd = _try_lock(path)
    try:
        log.info("batch worker thread holds the server lock", extra={"detail": str(path)})
        run_worker(wiring, stop)
    except Exception:
        log.error("batch worker thread stopped on an error", exc_info=True)
    finally:
        os.close(fd)


@dataclass
class EmbeddedWorker:
    thread: threading.Thread
    stop: threading.Event

    def stop_and_join(self, timeout: float = JOIN_SECONDS) -> None:
        """Finish the chunk in hand, give the job back, end the thread."""
        self.stop.set()
        self.thread.join(timeout)


def start_in_server(wiring: Any) -> EmbeddedWorker | None:
    """Start the server's batch worker thread (unless the settings turn it off)."""
    if not wiring.settings.run_worker_in_server:
        return None
    stop = threading.Event()
    thread = threading.Thread(
        target=_serve_jobs, args=(wiring, stop), name="lrs-ws-batch-worker", daemon=True
    )
    thread.start()
    worker = EmbeddedWorker(thread, stop)
    try:
        from lrs_ws import lifecycle
    except ModuleNotFoundError:
        pass
    else:
        lifecycle.register("batch worker", thread=thread, stop=stop.set)
    atexit.register(worker.stop_and_join)
    return worker
