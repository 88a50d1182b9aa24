"""The batch worker over a real database (SQLite and PostgreSQL): record-level outcomes, counts, the error
file, audit events, promotion, leases and graceful stops. Jobs are submitted through the use cases."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from support.batch import (
    REINSTATE,
    UPDATE,
    WITHDRAW,
    achievement,
    count,
    error_rows,
    valid_uln,
)
from support.dbstate import db_state
from support.demo import AMIRA, DEMO1_USER, DEMO_PASSWORD, JAMES, OWEN, TEST_LEARNER

from lrs_ws.app import Wiring
from lrs_ws.domain import batch as b
from lrs_ws.domain import errors as e
from lrs_ws.domain import model
from lrs_ws.domain.batch import ChunkKeys
from lrs_ws.domain.error_codes import error_code
from lrs_ws.jobs.worker import BatchWorker, run_worker
from lrs_ws.service import batch, batch_queries, records
from lrs_ws.service import batch_processing as bp
from lrs_ws.service.auth import Caller
from lrs_ws.service.records import AchievementRecord

HEALTHCARE = "J/602/3521"
UNIT = "K/501/5773"
QUAL = "600/1166/X"
BATCH_TABLES = ("batch_jobs", "batch_records", "achievements", "audit_events")


def caller_for(w: Wiring, username: str = DEMO1_USER) -> Caller:
    with w.uow_factory() as uow:
        user = uow.users.by_username(username)
        assert user is not None and user.id is not None
        org = uow.organisations.get(user.organisation_id)
        assert org is not None and org.id is not None
        return Caller(user.id, user.username, org.id, org.ref, user.role_set, user.email, "test")


def submit(
    w: Wiring,
    rows: list[dict[str, Any]],
    kind: str = "Final",
    username: str = DEMO1_USER,
    maximum: int = 5000,
    queue_limit: int = 100_000,
) -> int:
    return batch.submit(
        w.uow_factory(),
        caller=caller_for(w, username),
        email="mi@demo1.example",
        submission_type=kind,
        achievements=[AchievementRecord(**r) for r in rows],
        max_achievements=maximum,
        max_queued_records=queue_limit,
    )


def work(w: Wiring, **settings: Any) -> None:
    wiring = Wiring(w.settings.with_(**settings), w.engine, w.uow_factory) if settings else w
    run_worker(wiring, threading.Event(), once=True)


def report(w: Wiring, job_id: int, username: str = DEMO1_USER) -> batch_queries.JobReport:
    return batch_queries.get_job(w.uow_factory(), caller=caller_for(w, username), job_id=job_id)


def achievements_of(w: Wiring, uln: str, reference: str) -> list[model.Achievement]:
    with w.uow_factory() as uow:
        return list(uow.achievements.matching(caller_for(w).organisation_id, uln, reference, None))


def demo1_mis(w: Wiring, mis: str) -> model.Achievement:
    found = [a for a in achievements_of(w, TEST_LEARNER, HEALTHCARE) if a.mis_identifier == mis]
    assert len(found) == 1
    return found[0]


# -- outcomes and counts -------------------------------------------------------------------------------------


def test_every_record_level_error_is_counted_in_its_category_and_listed_in_the_error_file(demo_wiring):
    unknown_uln = valid_uln("123456780")
    tomorrow = datetime.combine(datetime.now().date() + timedelta(days=2), datetime.min.time())
    rows = [
        achievement(JAMES, UNIT, mis="M1"),  # 1 created
        achievement("3415521948", UNIT, mis="F1"),  # 2 field: check digit
        achievement(JAMES, UNIT, mis="F2", grade="G" * 21),  # 3 field: grade too long
        achievement(JAMES, UNIT, 7, mis="F3"),  # 4 field: unknown action
        achievement(JAMES, "XYZ", mis="F4"),  # 5 field: reference format
        achievement(unknown_uln, UNIT, mis="L1"),  # 6 learner: not on register
        achievement(JAMES, QUAL, mis="L2", given="Jim"),  # 7 learner: names differ
        achievement(JAMES, UNIT, mis="M1"),  # 8 business: duplicate create
        achievement(AMIRA, HEALTHCARE, UPDATE, mis="B2"),  # 9 business: no target
        achievement(TEST_LEARNER, HEALTHCARE, UPDATE),  # 10 business: 3 targets
        achievement(TEST_LEARNER, HEALTHCARE, WITHDRAW, mis="DEMO01-01"),  # 11 withdrawn
        achievement(TEST_LEARNER, HEALTHCARE, WITHDRAW, mis="DEMO01-01"),  # 12 business: withdrawn
        achievement(TEST_LEARNER, HEALTHCARE, REINSTATE, mis="DEMO01-02"),  # 13 business: active
        achievement(OWEN, UNIT, mis="B6", award=tomorrow),  # 14 business: future
        achievement(TEST_LEARNER, HEALTHCARE, UPDATE, mis="DEMO02-04"),  # 15 business: other AO's
    ]
    job_id = submit(demo_wiring, rows)
    assert report(demo_wiring, job_id).job.status == b.WAITING

    work(demo_wiring)

    got = report(demo_wiring, job_id)
    c = got.job.counts
    assert got.job.status == b.SUCCESSFUL
    assert (c.records, c.done, c.created, c.withdrawn) == (15, 15, 1, 1)
    assert (c.field_errors, c.learner_errors, c.business_errors) == (4, 2, 7)
    assert (c.successful_final, c.successful_provisional) == (2, 0)
    assert (c.updated, c.reinstated, c.promoted) == (0, 0, 0)
    assert c.percentage_successful == pytest.approx(13.33)
    errors = {int(r["Line"]): r for r in error_rows(got.error_file)}
    assert {line: r["ErrorCode"] for line, r in errors.items()} == {
        2: "WSEC0136",
        3: "WSEC0101",
        4: "WSEC0103",
        5: "WSEC0103",
        6: "WSEC0104",
        7: "WSEC0111",
        8: "WSEC0108",
        9: "WSEC0105",
        10: "WSEC0109",
        12: "WSEC0106",
        13: "WSEC0106",
        14: "WSEC0102",
        15: "WSEC0105",
    }
    assert errors[6]["Uln"] == unknown_uln and errors[6]["MisIdentifier"] == "L1"
    assert errors[9]["UnitOrQualificationReferenceNumber"] == HEALTHCARE
    assert "3 achievements match" in errors[10]["ErrorMessage"]
    # The refused records changed nothing: DEMO02's achievement and DEMO01-02 are as they were.
    assert demo1_mis(demo_wiring, "DEMO01-01").withdrawn is True
    assert demo1_mis(demo_wiring, "DEMO01-02").withdrawn is False
    assert len(achievements_of(demo_wiring, JAMES, UNIT)) == 1


def test_each_applied_record_writes_its_audit_event_in_the_same_transaction(demo_wiring):
    rows = [
        achievement(JAMES, UNIT, mis="A1"),
        achievement(AMIRA, QUAL, mis="A2"),
        achievement(OWEN, "XYZ", mis="A3"),
    ]
    job_id = submit(demo_wiring, rows)
    work(demo_wiring)
    engine = demo_wiring.engine
    events = count(engine, "SELECT count(*) FROM audit_events WHERE request_id = :r", r=f"batch-job-{job_id}")
    applied = count(
        engine, "SELECT count(*) FROM batch_records WHERE job_id = :j AND state = 'applied'", j=job_id
    )
    linked = count(
        engine,
        "SELECT count(*) FROM batch_records r JOIN audit_events a ON a.achievement_id = r.achievement_id "
        "WHERE r.job_id = :j AND a.operation = 'BatchCreate'",
        j=job_id,
    )
    assert events == applied == linked == 2


def test_update_withdraw_and_reinstate_apply_in_order_within_one_chunk(demo_wiring):
    before = demo1_mis(demo_wiring, "DEMO01-03")
    rows = [
        achievement(
            TEST_LEARNER, HEALTHCARE, UPDATE, mis="DEMO01-03", grade="Merit", award=datetime(2010, 1, 3)
        ),
        achievement(TEST_LEARNER, HEALTHCARE, WITHDRAW, mis="DEMO01-03", ActionReason="Entered twice"),
        achievement(TEST_LEARNER, HEALTHCARE, REINSTATE, mis="DEMO01-03"),
    ]
    job_id = submit(demo_wiring, rows)
    work(demo_wiring)

    c = report(demo_wiring, job_id).job.counts
    assert (c.updated, c.withdrawn, c.reinstated, c.successful_final) == (1, 1, 1, 3)
    after = demo1_mis(demo_wiring, "DEMO01-03")
    assert after.grade == "Merit" and after.withdrawn is False
    assert after.version == before.version + 3
    with demo_wiring.uow_factory() as uow:
        ops = [ev.operation for ev in uow.audit.for_achievement(after.id)]
    assert ops[-3:] == ["BatchUpdate", "BatchWithdraw", "BatchReinstate"]


def test_an_achievement_created_and_changed_in_one_chunk_is_stored_once_with_every_change(demo_wiring):
    rows = [
        achievement(OWEN, UNIT, mis="C1", grade="Pass"),
        achievement(OWEN, UNIT, UPDATE, mis="C1", grade="Distinction"),
        achievement(OWEN, UNIT, WITHDRAW, mis="C1"),
    ]
    submit(demo_wiring, rows)
    work(demo_wiring)
    (stored,) = achievements_of(demo_wiring, OWEN, UNIT)
    assert (stored.grade, stored.withdrawn, stored.version) == ("Distinction", True, 3)
    with demo_wiring.uow_factory() as uow:
        assert [ev.operation for ev in uow.audit.for_achievement(stored.id)] == [
            "BatchCreate",
            "BatchUpdate",
            "BatchWithdraw",
        ]


def test_provisional_records_are_stored_as_provisional_and_a_final_submission_promotes_them(demo_wiring):
    first = submit(
        demo_wiring,
        [achievement(JAMES, QUAL, mis="P1"), achievement(AMIRA, QUAL, mis="P2")],
        kind="provisional",
    )
    work(demo_wiring)
    c1 = report(demo_wiring, first).job.counts
    assert (c1.created, c1.successful_provisional, c1.successful_final) == (2, 2, 0)
    assert [a.status for a in achievements_of(demo_wiring, JAMES, QUAL)] == [model.PROVISIONAL]

    second = submit(
        demo_wiring,
        [
            achievement(JAMES, QUAL, mis="P1", grade="Merit"),  # Create of a Provisional one: promoted
            achievement(AMIRA, QUAL, UPDATE, mis="P2", grade="Pass"),  # Final Update: updated and promoted
        ],
        kind="FINAL",
    )
    work(demo_wiring)
    job = report(demo_wiring, second).job
    c2 = job.counts
    assert job.submission_type == model.FINAL
    assert (c2.created, c2.updated, c2.promoted, c2.successful_final) == (0, 1, 2, 2)
    (james,) = achievements_of(demo_wiring, JAMES, QUAL)
    assert (james.status, james.grade) == (model.FINAL, "Merit")
    assert achievements_of(demo_wiring, AMIRA, QUAL)[0].status == model.FINAL


def test_a_job_where_no_record_can_be_applied_ends_failed_with_a_reason(demo_wiring):
    job_id = submit(demo_wiring, [achievement("3415521948", UNIT), achievement(AMIRA, HEALTHCARE, WITHDRAW)])
    work(demo_wiring)
    got = report(demo_wiring, job_id)
    assert got.job.status == b.FAILED
    assert "None of the 2 records" in (got.job.rejection_reason or "")
    assert len(error_rows(got.error_file)) == 2


def test_a_record_that_fails_unexpectedly_again_and_again_is_failed_alone(demo_wiring, monkeypatch):
    real = records.decide

    def flaky(view, caller, rec, status, now):  # type: ignore[no-untyped-def]
        if rec.mis_identifier == "BOOM":
            raise RuntimeError("a bug")
        return real(view, caller, rec, status, now)

    monkeypatch.setattr(records, "decide", flaky)
    rows = [
        achievement(JAMES, UNIT, mis="OK1"),
        achievement(AMIRA, UNIT, mis="BOOM"),
        achievement(OWEN, UNIT, mis="OK2"),
    ]
    job_id = submit(demo_wiring, rows)
    work(demo_wiring, worker_poll_seconds=0.01)
    got = report(demo_wiring, job_id)
    assert got.job.status == b.SUCCESSFUL
    assert (got.job.counts.created, got.job.counts.business_errors) == (2, 1)
    (row,) = error_rows(got.error_file)
    assert (row["Line"], row["ErrorCode"]) == ("2", "WSEC0199")


# -- request-level refusals ----------------------------------------------------------------------------------


def test_request_level_refusals_create_no_job_and_change_nothing(demo_wiring):
    from lrs_ws.service import admin

    admin.add_organisation(
        demo_wiring.uow_factory(), ref="NOBAT1", name="No batches", ukprn="10000009", batch_enabled=False
    )
    admin.add_user(
        demo_wiring.uow_factory(),
        organisation_ref="NOBAT1",
        username="nobatch.user",
        password=DEMO_PASSWORD,
        email="u@nobat.example",
        roles=["AO_USER"],
    )
    state = db_state(demo_wiring.engine, BATCH_TABLES)
    one = [achievement(JAMES, UNIT)]
    cases = [
        ("WSRC0043", dict(username="nobatch.user")),
        ("WSEC0044", dict(email="not-an-address")),
        ("WSEC0045", dict(kind="Interim")),
        ("WSEC0046", dict(rows=one * 3, maximum=2)),
        ("WSEC0047", dict(rows=[])),
    ]
    for code, case in cases:
        with pytest.raises(e.BatchRefused) as refused:
            batch.submit(
                demo_wiring.uow_factory(),
                caller=caller_for(demo_wiring, case.get("username", "demo1.edc")),
                email=case.get("email", "mi@demo1.example"),
                submission_type=case.get("kind", "Final"),
                achievements=[AchievementRecord(**r) for r in case.get("rows", one)],
                max_achievements=case.get("maximum", 5000),
                max_queued_records=100_000,
            )
        assert error_code(refused.value) == code
    with pytest.raises(e.AccessDenied):
        submit(demo_wiring, one, username="lrs.support")
    assert db_state(demo_wiring.engine, BATCH_TABLES) == state


def test_another_organisations_job_answers_like_an_unknown_one(demo_wiring):
    job_id = submit(demo_wiring, [achievement(JAMES, UNIT)])
    with pytest.raises(e.UnknownJob) as other:
        report(demo_wiring, job_id, username="demo2.edc")
    with pytest.raises(e.UnknownJob) as missing:
        report(demo_wiring, job_id + 1000, username="demo2.edc")
    unknown = missing.value.message.replace(str(job_id + 1000), "N")
    assert other.value.message.replace(str(job_id), "N") == unknown


# -- claims, leases and stops --------------------------------------------------------------------------------


def test_concurrent_claims_never_give_one_job_to_two_workers(demo_wiring):
    jobs = {submit(demo_wiring, [achievement(JAMES, UNIT, mis=f"J{i}")]) for i in range(6)}
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def claimer(name: str) -> None:
        start.wait()
        while True:
            job = bp.claim_next(demo_wiring.uow_factory(), worker_id=name, lease_seconds=300)
            if job is None:
                return
            with lock:
                claimed.append((name, job.id))

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(job for _, job in claimed) == sorted(jobs)


def test_a_job_whose_worker_vanished_is_taken_over_once_its_lease_runs_out(demo_wiring):
    job_id = submit(demo_wiring, [achievement(JAMES, UNIT)])
    first = bp.claim_next(demo_wiring.uow_factory(), worker_id="gone", lease_seconds=300)
    assert first is not None and first.id == job_id
    assert bp.claim_next(demo_wiring.uow_factory(), worker_id="other", lease_seconds=300) is None
    with demo_wiring.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text("UPDATE batch_jobs SET lease_expires_at = :t WHERE id = :j"),
            {"t": datetime(2000, 1, 1), "j": job_id},
        )
    second = bp.claim_next(demo_wiring.uow_factory(), worker_id="other", lease_seconds=300)
    assert second is not None and second.id == job_id and second.attempts == 1
    with pytest.raises(bp.LeaseLost):
        bp.process_chunk(
            demo_wiring.uow_factory(), job=first, worker_id="gone", chunk_size=10, lease_seconds=300
        )
    result = bp.process_chunk(
        demo_wiring.uow_factory(), job=second, worker_id="other", chunk_size=10, lease_seconds=300
    )
    assert result.finished and result.status == b.SUCCESSFUL


def test_a_worker_told_to_stop_finishes_its_chunk_and_gives_the_job_back(demo_wiring):
    rows = [achievement(JAMES, f"A/100/{i:04d}") for i in range(7)]
    job_id = submit(demo_wiring, rows)
    stop = threading.Event()
    settings = demo_wiring.settings.with_(worker_chunk_size=3)
    worker = BatchWorker(
        Wiring(settings, demo_wiring.engine, demo_wiring.uow_factory),
        stop,
        on_chunk=lambda job, result: stop.set(),
    )
    worker.run()
    job = report(demo_wiring, job_id).job
    assert (job.status, job.counts.done, job.counts.created) == (b.WAITING, 3, 3)

    work(demo_wiring)
    job = report(demo_wiring, job_id).job
    assert (job.status, job.counts.done, job.counts.created, job.attempts) == (b.SUCCESSFUL, 7, 7, 0)
    assert (
        count(
            demo_wiring.engine,
            "SELECT count(*) FROM audit_events WHERE request_id = :r",
            r=f"batch-job-{job_id}",
        )
        == 7
    )


def test_a_small_job_of_another_organisation_finishes_before_a_large_job_submitted_first(demo_wiring):
    large = submit(demo_wiring, [achievement(JAMES, UNIT, mis=f"L{i}") for i in range(40)])
    small = submit(demo_wiring, [achievement(JAMES, UNIT, mis="D2")], username="demo2.edc")
    finished: list[int] = []
    settings = demo_wiring.settings.with_(worker_chunk_size=10)
    worker = BatchWorker(
        Wiring(settings, demo_wiring.engine, demo_wiring.uow_factory),
        threading.Event(),
        on_chunk=lambda job, result: finished.append(job.id) if result.finished else None,
    )
    worker.run(once=True)
    assert finished == [small, large]
    assert report(demo_wiring, small, "demo2.edc").job.counts.created == 1
    job = report(demo_wiring, large).job
    assert (job.status, job.counts.created, job.attempts) == (b.SUCCESSFUL, 40, 0)


def test_a_chunk_reads_only_the_achievements_its_records_can_match(demo_wiring):
    held = [achievement(JAMES, UNIT, mis=f"M{i}", award=datetime(2023, 1, 1 + i)) for i in range(20)]
    held += [achievement(JAMES, QUAL, mis=f"Q{i}") for i in range(3)]
    submit(demo_wiring, held)
    work(demo_wiring)
    organisation = caller_for(demo_wiring).organisation_id
    keys = ChunkKeys(
        ulns={JAMES},
        references={UNIT, QUAL},
        by_mis_identifier={(JAMES, UNIT, "M7"), (JAMES, UNIT, "none such")},
        by_award_date={(JAMES, UNIT, date(2023, 1, 12))},
        by_target=set(),
    )
    with demo_wiring.uow_factory() as uow:
        found = uow.batch_chunks.chunk_context(organisation, keys).achievements
        assert sorted(a.mis_identifier for a in found) == ["M11", "M7"]
        every = ChunkKeys({JAMES}, {QUAL}, set(), set(), by_target={(JAMES, QUAL)})
        found = uow.batch_chunks.chunk_context(organisation, every).achievements
        assert sorted(a.mis_identifier for a in found) == ["Q0", "Q1", "Q2"]


def test_small_chunks_give_the_same_outcome_as_one_chunk(demo_wiring):
    rows = [achievement(JAMES, f"A/100/{i:04d}", mis=f"S{i}") for i in range(5)]
    rows += [achievement(JAMES, "A/100/0002", UPDATE, mis="S2", grade="Merit"), achievement("1", UNIT)]
    job_id = submit(demo_wiring, rows)
    work(demo_wiring, worker_chunk_size=2)
    c = report(demo_wiring, job_id).job.counts
    assert (c.done, c.created, c.updated, c.field_errors) == (7, 5, 1, 1)


# -- batch files ---------------------------------------------------------------------------------------------


def test_a_batch_file_becomes_one_job_whatever_the_request_maximum(demo_wiring):
    import io

    header = ",".join(records.FIELD_NAMES)
    lines = (
        [header]
        + [
            f"2023-07-01,1,2024-01-05,,,Pickles,,James,Pass,English,,F{i},10000001,{JAMES},A/200/{i:04d}"
            for i in range(12)
        ]
        + [
            f"31/12/2022,1,,,,Pickles,,James,,,,,10000001,{JAMES},A/300/0001",
            f"2023-02-30,1,,,,Pickles,,James,,,,,10000001,{JAMES},A/300/0002",
        ]
    )
    rows = batch.csv_rows(io.StringIO("\n".join(lines) + "\n"))
    job_id = batch.submit_file(
        demo_wiring.uow_factory(),
        organisation_ref="demo01",
        username="demo1.edc",
        email=None,
        submission_type="Final",
        filename="file.csv",
        rows=rows,
        max_queued_records=100_000,
    )
    work(demo_wiring)
    got = report(demo_wiring, job_id)
    assert (got.job.source, got.job.filename) == (b.SOURCE_FILE, "file.csv")
    assert got.job.email == "demo1.edc@demo1.example"
    assert (got.job.counts.records, got.job.counts.created, got.job.counts.field_errors) == (14, 13, 1)
    (bad,) = error_rows(got.error_file)
    assert (bad["Line"], bad["ErrorCode"]) == ("15", "WSEC0103")


def test_a_batch_file_needs_the_fifteen_fields_and_at_least_one_row(demo_wiring):
    import io

    state = db_state(demo_wiring.engine, BATCH_TABLES)
    with pytest.raises(e.InvalidValue, match="unknown: Colour"):
        list(batch.csv_rows(io.StringIO(",".join(records.FIELD_NAMES) + ",Colour\n")))
    with pytest.raises(e.InvalidValue, match="missing: Uln"):
        list(batch.csv_rows(io.StringIO(",".join(n for n in records.FIELD_NAMES if n != "Uln") + "\n")))
    with pytest.raises(e.BatchRefused) as empty:
        batch.submit_file(
            demo_wiring.uow_factory(),
            organisation_ref="DEMO01",
            username="demo1.edc",
            email=None,
            submission_type="Final",
            filename="empty.csv",
            rows=batch.csv_rows(io.StringIO(",".join(records.FIELD_NAMES) + "\n")),
            max_queued_records=100_000,
        )
    assert error_code(empty.value) == "WSEC0047"
    assert db_state(demo_wiring.engine, BATCH_TABLES) == state


# -- the submitter's e-mail, cancelling ---------------------------------------------------------------------


def test_the_submitter_is_emailed_the_counts_and_the_error_file_when_the_job_ends(demo_wiring):
    from sqlalchemy import text

    rows = [achievement(JAMES, UNIT, mis="E1"), achievement("3415521948", UNIT, mis="E2")]
    job_id = submit(demo_wiring, rows)
    work(demo_wiring)
    with demo_wiring.engine.connect() as conn:
        (message,) = conn.execute(
            text("SELECT id, recipient, subject, body FROM outbox_messages WHERE subject LIKE :s"),
            {"s": f"Achievement batch job {job_id}:%"},
        ).all()
        (attachment,) = conn.execute(
            text("SELECT filename, content FROM outbox_attachments WHERE message_id = :m"), {"m": message.id}
        ).all()
    assert message.recipient == "mi@demo1.example"
    assert message.subject == f"Achievement batch job {job_id}: Successful"
    assert "Field data errors:                1" in message.body
    assert attachment.filename == f"achievement-batch-{job_id}-errors.csv"
    assert bytes(attachment.content).decode().splitlines()[1].startswith('"2","E2","3415521948",')


def test_an_operator_cancels_a_waiting_job_and_nothing_of_it_is_applied(demo_wiring):
    job_id = submit(demo_wiring, [achievement(JAMES, UNIT, mis="X1")])
    assert batch_queries.cancel_job(demo_wiring.uow_factory(), job_id=job_id).status == b.CANCELLED
    work(demo_wiring)
    job = report(demo_wiring, job_id).job
    assert (job.status, job.counts.done, job.started_at) == (b.CANCELLED, 0, None)
    assert achievements_of(demo_wiring, JAMES, UNIT) == []
    with pytest.raises(e.InvalidTransition):
        batch_queries.cancel_job(demo_wiring.uow_factory(), job_id=job_id)
    with pytest.raises(e.UnknownJob):
        batch_queries.cancel_job(demo_wiring.uow_factory(), job_id=job_id + 99)


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            "UPDATE users SET active = :no WHERE username = 'demo1.edc'",
            "the submitting user demo1.edc is no longer active",
        ),
        (
            "UPDATE users SET roles = 'EDC_USER' WHERE username = 'demo1.edc'",
            "the submitting user demo1.edc no longer has the AO_USER role",
        ),
        (
            "UPDATE organisations SET batch_enabled = :no WHERE ref = 'DEMO01'",
            "the organisation is no longer enabled for achievement batches",
        ),
    ],
    ids=["user-deactivated", "role-removed", "organisation-disabled"],
)
def test_a_job_whose_submitter_can_no_longer_submit_fails_with_the_reason_and_applies_nothing(
    demo_wiring, change, reason
):
    from sqlalchemy import text

    job_id = submit(demo_wiring, [achievement(JAMES, UNIT, mis="S1"), achievement(AMIRA, UNIT, mis="S2")])
    with demo_wiring.engine.begin() as conn:
        conn.execute(text(change), {"no": False})
    before = db_state(demo_wiring.engine, ("achievements", "audit_events"))
    work(demo_wiring)
    with demo_wiring.uow_factory() as uow:
        job = uow.batch_queue.get(job_id, None)
    assert job is not None
    assert (job.status, job.counts.done) == (b.FAILED, 0)
    assert job.rejection_reason == f"Records not yet processed were not applied: {reason}."
    assert db_state(demo_wiring.engine, ("achievements", "audit_events")) == before
    assert achievements_of(demo_wiring, JAMES, UNIT) == []
