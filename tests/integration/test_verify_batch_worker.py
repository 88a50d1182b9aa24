"""Learner verification jobs in the batch worker over a real database (SQLite and PostgreSQL): results and
cursor in chunks, a submitter who may no longer verify, and the retention purge. Jobs are submitted through
the use cases and processed by `run_worker`."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import text
from support.demo import AMIRA, DEMO1_USER, MASTER_ULN, MERGED_ULN, TEST_LEARNER

from lrs_ws.app import Wiring
from lrs_ws.domain import batch as b
from lrs_ws.domain.clock import utcnow
from lrs_ws.jobs.worker import run_worker
from lrs_ws.service import retention, verify_batch
from lrs_ws.service.auth import Caller
from lrs_ws.service.verify_batch import LearnerToVerify

LEARNERS = [
    LearnerToVerify(MASTER_ULN, "Sophie", "Turner"),
    LearnerToVerify(MERGED_ULN, "Sophie", "Turner"),
    LearnerToVerify(TEST_LEARNER, "Test", "Learner", "2000-05-01", "9"),
    LearnerToVerify(TEST_LEARNER, "", "Learner"),
    LearnerToVerify(AMIRA, "Amira", "Khan", None, "x"),
]


def caller_for(w: Wiring, username: str = DEMO1_USER) -> Caller:
    with w.uow_factory() as uow:
        user = uow.users.by_username(username)
        assert user is not None and user.id is not None
        org = uow.organisations.get(user.organisation_id)
        assert org is not None and org.id is not None
        return Caller(user.id, user.username, org.id, org.ref, user.role_set, user.email, "test")


def submit(w: Wiring) -> int:
    return verify_batch.submit(
        w.uow_factory(), caller=caller_for(w), learners=LEARNERS, max_queued_records=100_000
    )


def work(w: Wiring, chunk_size: int = 2) -> None:
    run_worker(
        Wiring(w.settings.with_(worker_chunk_size=chunk_size), w.engine, w.uow_factory),
        threading.Event(),
        once=True,
    )


def rows(w: Wiring, sql: str, **params: object) -> list[tuple[object, ...]]:
    with w.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def test_a_verification_job_is_verified_in_chunks_and_ends_successful_with_its_payload_deleted(
    demo_wiring: Wiring,
) -> None:
    job_id = submit(demo_wiring)
    work(demo_wiring)
    report = verify_batch.results(demo_wiring.uow_factory(), job_id=job_id)
    assert (report.job.status, report.job.counts.records, report.job.counts.done) == (b.SUCCESSFUL, 5, 5)
    assert report.job.counts.field_errors == 2
    assert [
        (r.line_no, r.response_code, r.failure_flags, r.master_uln, r.error_code) for r in report.results
    ] == [
        (1, "WSVRC001", (), None, None),
        (2, "WSVRC002", (), MASTER_ULN, None),
        (3, "WSVRC001", (), None, None),
        (4, None, (), None, "WSEC0103"),
        (5, None, (), None, "WSEC0103"),
    ]
    assert rows(demo_wiring, "SELECT count(*) FROM batch_payloads WHERE job_id = :j", j=job_id) == [(0,)]
    assert rows(demo_wiring, "SELECT count(*) FROM batch_records WHERE job_id = :j", j=job_id) == [(0,)]
    assert rows(demo_wiring, "SELECT count(*) FROM outbox_messages") == [(0,)]


def test_a_job_whose_submitter_was_deactivated_before_it_ran_fails_with_the_reason_and_verifies_no_one(
    demo_wiring: Wiring,
) -> None:
    job_id = submit(demo_wiring)
    with demo_wiring.uow_factory() as uow:
        user = uow.users.by_username("demo1.edc")
        assert user is not None
        user.active = False
        uow.commit()
    work(demo_wiring)
    report = verify_batch.results(demo_wiring.uow_factory(), job_id=job_id)
    assert report.job.status == b.FAILED
    assert report.job.rejection_reason == (
        "Learners not yet verified were not verified: the submitting user demo1.edc is no longer active."
    )
    assert report.results == []


def test_the_retention_purge_deletes_a_finished_verification_jobs_results_and_keeps_its_counts(
    demo_wiring: Wiring,
) -> None:
    job_id = submit(demo_wiring)
    work(demo_wiring)
    report = retention.purge(demo_wiring.uow_factory, batch_days=0, mail_days=30, now=utcnow() + timedelta(1))
    assert (report.jobs, report.job_rows) == (1, 5)
    assert rows(demo_wiring, "SELECT count(*) FROM verify_results WHERE job_id = :j", j=job_id) == [(0,)]
    job = verify_batch.results(demo_wiring.uow_factory(), job_id=job_id).job
    counts = (job.counts.records, job.counts.done, job.counts.field_errors)
    assert (job.status, counts) == (b.SUCCESSFUL, (5, 5, 2))
