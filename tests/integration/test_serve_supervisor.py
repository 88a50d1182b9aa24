"""The `lrs-ws serve` supervisor with stand-in children: which stops count against a job, and restarts."""

from __future__ import annotations

import sys

from lrs_ws.jobs.supervisor import Supervisor


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_worker_that_dies_by_itself_has_its_job_given_back_counted_and_is_started_again() -> None:
    given_back: list[tuple[str, bool]] = []
    supervisor = Supervisor(
        python("import time; time.sleep(6)"),  # the server, running for 6 s
        python("import sys; sys.exit(3)"),  # a worker that dies at once, every time
        {},
        lambda worker_id, counted: given_back.append((worker_id, counted)),
    )
    assert supervisor.run() == 0
    assert len(given_back) >= 2  # started again after 1 s, then after 2 s more
    assert all(counted for _, counted in given_back)
    assert len({worker_id for worker_id, _ in given_back}) == len(given_back)  # a new name each start


def test_a_worker_killed_by_the_supervisor_after_the_stop_timeout_has_its_job_given_back_uncounted() -> None:
    given_back: list[tuple[str, bool]] = []
    supervisor = Supervisor(
        python("import time; time.sleep(3)"),
        # A worker that ignores SIGTERM (a chunk that will not finish).
        python("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"),
        {},
        lambda worker_id, counted: given_back.append((worker_id, counted)),
        stop_timeout=1,
    )
    assert supervisor.run() == 0
    assert given_back == [(supervisor.worker_id, False)]
    assert supervisor.worker is None
