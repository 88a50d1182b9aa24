"""Graceful shutdown of a process's background work: the one hook between gunicorn and worker threads.

gunicorn stops a worker in two steps: on SIGTERM the worker finishes the request in hand and leaves its
loop, then runs the `worker_exit` hook (see `lrs_ws.gunicorn_conf`) which calls `shutdown()` here. A
background thread takes part like this::

    from lrs_ws import lifecycle

    def run() -> None:
        while not lifecycle.stopping():
            process_one_chunk()           # finish what was started ...
        # ... and leave: a job whose lease is not renewed is taken up again by another worker

    thread = threading.Thread(target=run, name="batch-worker", daemon=True)
    thread.start()
    lifecycle.register("batch worker", thread=thread, stop=optional_wake_up_callback)

`shutdown(timeout)` sets the stop flag, calls every registered `stop` callback (to wake a thread that
sleeps between polls — `lifecycle.wait(seconds)` is an interruptible sleep for that), and joins every
registered thread until the deadline. gunicorn kills the process `graceful_timeout` seconds after SIGTERM,
so work that takes longer than that is cut off; batch work must therefore be safe to resume (leases).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("lrs_ws.lifecycle")

_stop = threading.Event()
_lock = threading.Lock()


@dataclass(frozen=True)
class _Participant:
    name: str
    thread: threading.Thread | None
    stop: Callable[[], None] | None


_participants: list[_Participant] = []


def register(
    name: str, *, thread: threading.Thread | None = None, stop: Callable[[], None] | None = None
) -> None:
    """Take part in shutdown: `stop` is called once when it begins, `thread` is waited for."""
    with _lock:
        _participants.append(_Participant(name, thread, stop))


def stopping() -> bool:
    """True once shutdown has begun: finish the current unit of work and return."""
    return _stop.is_set()


def wait(seconds: float) -> bool:
    """Sleep up to `seconds`, waking early when shutdown begins; True if it has begun."""
    return _stop.wait(seconds)


def request_stop() -> None:
    """Begin shutdown without waiting (a quick exit: SIGINT/SIGQUIT)."""
    if _stop.is_set():
        return
    _stop.set()
    with _lock:
        participants = list(_participants)
    for participant in participants:
        if participant.stop is not None:
            try:
                participant.stop()
            except Exception as exc:
                failure = {"detail": participant.name, "error": type(exc).__name__}
                log.warning("stop callback failed", extra=failure)


def shutdown(timeout: float) -> list[str]:
    """Stop every participant and wait for their threads up to `timeout` seconds.

    Returns the names of those still running at the deadline (they die with the process).
    """
    request_stop()
    deadline = time.monotonic() + max(timeout, 0.0)
    with _lock:
        participants = list(_participants)
    still_running = []
    for participant in participants:
        thread = participant.thread
        if thread is None or thread is threading.current_thread():
            continue
        thread.join(max(deadline - time.monotonic(), 0.0))
        if thread.is_alive():
            still_running.append(participant.name)
    if still_running:
        log.warning("shutdown deadline passed", extra={"detail": ", ".join(still_running)})
    return still_running


def reset() -> None:
    """Forget every participant and clear the flag (tests; a freshly forked process)."""
    with _lock:
        _participants.clear()
    _stop.clear()
