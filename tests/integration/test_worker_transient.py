"""A lock held by another connection for a few seconds while a job runs is a temporary condition: the
worker waits and does the chunk again, and every record is applied; none is refused with WSEC0199."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import text
from support.batch import UPDATE, achievement, error_rows
from support.demo import JAMES, OWEN, TEST_LEARNER
from test_worker import HEALTHCARE, UNIT, demo1_mis, report, submit

from lrs_ws.app import Wiring
from lrs_ws.db.engine import make_engine, make_session_factory
from lrs_ws.db.uow import SqlAlchemyUnitOfWork
from lrs_ws.domain import batch as b
from lrs_ws.jobs.worker import BatchWorker
from lrs_ws.service import batch_processing as bp

HOLD_SECONDS = 3.0


def impatient(w: Wiring) -> Wiring:
    """The same database, but a lock wait gives up after 0.2 s (a busy timeout, PostgreSQL's lock_timeout)."""
    url = w.settings.database_url
    if url.startswith("sqlite"):
        engine = make_engine(url, connect_args={"check_same_thread": False, "timeout": 0.2})
    else:
        engine = make_engine(url, connect_args={"options": "-c lock_timeout=200"})
    factory = make_session_factory(engine)
    return Wiring(w.settings.with_(worker_poll_seconds=0.05), engine, lambda: SqlAlchemyUnitOfWork(factory))


def hold_lock(w: Wiring, achievement_id: int, locked: threading.Event) -> None:
    """Another connection holds a write lock (SQLite) or the achievement's row lock (PostgreSQL)."""
    with w.engine.connect() as conn:
        if w.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(text("SELECT id FROM achievements WHERE id = :i FOR UPDATE"), {"i": achievement_id})
        locked.set()
        threading.Event().wait(HOLD_SECONDS)
        conn.rollback()


def test_a_lock_held_for_seconds_during_a_chunk_delays_the_job_but_refuses_no_record(demo_wiring):
    target = demo1_mis(demo_wiring, "DEMO01-03")
    assert target.id is not None
    rows = [
        achievement(JAMES, UNIT, mis="T1"),
        achievement(
            TEST_LEARNER, HEALTHCARE, UPDATE, mis="DEMO01-03", grade="Merit", award=datetime(2010, 1, 3)
        ),
        achievement(OWEN, UNIT, mis="T3"),
    ]
    job_id = submit(demo_wiring, rows)
    worker_wiring = impatient(demo_wiring)
    worker = BatchWorker(worker_wiring, threading.Event())
    job = bp.claim_next(worker_wiring.uow_factory(), worker_id=worker.worker_id, lease_seconds=300)
    assert job is not None and job.id == job_id

    locked = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(demo_wiring, target.id, locked))
    holder.start()
    assert locked.wait(30)
    try:
        worker.run_job(job)
    finally:
        holder.join(30)
        worker_wiring.engine.dispose()

    got = report(demo_wiring, job_id)
    assert got.job.status == b.SUCCESSFUL
    assert (got.job.counts.done, got.job.counts.created, got.job.counts.updated) == (3, 2, 1)
    assert error_rows(got.error_file) == []
    assert demo1_mis(demo_wiring, "DEMO01-03").grade == "Merit"
