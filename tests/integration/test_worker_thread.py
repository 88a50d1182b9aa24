"""The batch worker thread of `lrs-ws serve`: on by default, one per host and database, stops gracefully."""

from __future__ import annotations

import os

from support.batch import achievement, wait_until

from lrs_ws.app import Wiring
from lrs_ws.domain import batch as b
from lrs_ws.jobs.embedded import _try_lock, lock_path, start_in_server
from lrs_ws.service import batch
from lrs_ws.service.auth import Caller
from lrs_ws.service.records import AchievementRecord


def caller_for(w: Wiring) -> Caller:
    with w.uow_factory() as uow:
        user = uow.users.by_username("demo1.edc")
        assert user is not None and user.id is not None
        return Caller(user.id, user.username, user.organisation_id, "DEMO01", user.role_set, user.email)


def _submit(w: Wiring, ref: str) -> int:
    return batch.submit(
        w.uow_factory(), caller=caller_for(w), email="mi@demo1.example", submission_type="Final",
        achievements=[AchievementRecord(**achievement("8659377485", ref))], max_achievements=10,
        max_queued_records=100_000,
    )


def test_of_two_server_threads_on_one_database_one_processes_the_jobs(demo_wiring):
    settings = demo_wiring.settings.with_(worker_poll_seconds=0.05)
    w = Wiring(settings, demo_wiring.engine, demo_wiring.uow_factory)
    first, second = start_in_server(w), start_in_server(w)
    assert first is not None and second is not None
    path = lock_path(w.settings.database_url)
    try:
        job_id = _submit(w, "G/500/0001")
        job = wait_until(
            lambda: (j := batch.job_status(w.uow_factory(), job_id=job_id)).finished and j, timeout=60
        )
        assert job.status == b.SUCCESSFUL
        assert _try_lock(path) is None  # one of the two holds the host's lock
    finally:
        first.stop_and_join()
        second.stop_and_join()
    assert not first.thread.is_alive() and not second.thread.is_alive()
    fd = _try_lock(path)
    assert fd is not None  # given back when the holder stopped
    os.close(fd)


def test_the_server_runs_no_worker_thread_when_told_not_to(demo_wiring):
    w = Wiring(demo_wiring.settings.with_(run_worker_in_server=False), demo_wiring.engine,
               demo_wiring.uow_factory)
    assert start_in_server(w) is None
