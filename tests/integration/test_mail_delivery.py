"""Outbox delivery against a real SMTP server on loopback: every message exactly once, retries with back-off
through an outage, concurrent deliverers, permanent refusals parked, attachments intact."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from support.demo import ORG1, SUPPORT_USER, TEST_LEARNER
from support.smtp import SmtpServer

from lrs_ws.app import Wiring
from lrs_ws.config import Settings
from lrs_ws.db.tables_mail import outbox_messages
from lrs_ws.domain import model
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.mail import Attachment, OutgoingMail
from lrs_ws.jobs.mailer import deliver_due
from lrs_ws.service import edc_lifecycle
from lrs_ws.service.operator import operator_caller

BASE = 30.0


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def mail_settings(w: Wiring, smtp: SmtpServer, **changes: Any) -> Settings:
    return w.settings.with_(smtp_url=smtp.url, smtp_retry_base_seconds=BASE, **changes)


def add_edc_user(w: Wiring, username: str) -> str:
    email = f"{username}@demo1.example"
    with w.uow_factory() as uow:
        org = uow.organisations.by_ref(ORG1)
        assert org is not None and org.id is not None
        uow.users.add(
            model.User(
                organisation_id=org.id, username=username, password_hash="x", email=email, roles="EDC_USER"
            )
        )
        uow.commit()
    return email


def raise_edc(w: Wiring) -> model.EventDataChallenge:
    with w.uow_factory() as uow:
        org = uow.organisations.by_ref(ORG1)
        assert org is not None and org.id is not None
        a = model.Achievement(
            organisation_id=org.id,
            uln=TEST_LEARNER,
            reference="K/501/5773",
            title="Principles",
            aim_type="Unit",
            level="Level 2",
            grade="Pass",
            award_date=date(2015, 6, 1),
            mis_identifier=uuid.uuid4().hex[:12],
            created_at=utcnow(),
        )
        uow.achievements.add(a)
        uow.commit()
    return edc_lifecycle.raise_edc(
        w.uow_factory(),
        caller=operator_caller(w.uow_factory(), username=SUPPORT_USER),
        achievement_id=a.id,
        problem_type="GradeIncorrect",
        description="Wrong grade",
        recommended_action="EditGrade",
        supplied_value="Merit",
    ).edc


def outbox(w: Wiring) -> list[Any]:
    with w.engine.connect() as conn:
        return list(conn.execute(select(outbox_messages).order_by(outbox_messages.c.id)))


def test_raising_queues_and_delivers_each_edc_users_email_exactly_once(
    demo_wiring: Wiring, smtp: SmtpServer
) -> None:
    second = add_edc_user(demo_wiring, "demo1.second")
    edc = raise_edc(demo_wiring)
    settings = mail_settings(demo_wiring, smtp)

    assert deliver_due(demo_wiring.uow_factory, settings) == 2
    assert deliver_due(demo_wiring.uow_factory, settings) == 0

    assert sorted(str(m["To"]) for m in smtp.received) == sorted(["demo1.edc@demo1.example", second])
    for message in smtp.received:
        assert edc.reference in str(message["Subject"])
        assert str(message["From"]) == settings.mail_from
        assert "Merit" in message.get_content()
    assert len(set(smtp.collector.message_ids())) == 2
    assert all(row.sent_at is not None and row.claim_token is None for row in outbox(demo_wiring))


def test_an_smtp_outage_loses_nothing_and_each_message_goes_out_exactly_once(
    demo_wiring: Wiring, smtp: SmtpServer
) -> None:
    add_edc_user(demo_wiring, "demo1.second")
    settings = mail_settings(demo_wiring, smtp)
    # Deliveries run at a clock a little ahead of the raises, so every message queued below is due at t0
    # even when a second boundary passes while they are queued (timestamps have whole seconds).
    t0 = utcnow() + timedelta(seconds=10)

    raise_edc(demo_wiring)
    assert deliver_due(demo_wiring.uow_factory, settings, now=t0) == 2

    smtp.stop()
    raise_edc(demo_wiring)
    raise_edc(demo_wiring)
    assert deliver_due(demo_wiring.uow_factory, settings, now=t0) == 0
    waiting = [r for r in outbox(demo_wiring) if r.sent_at is None]
    assert len(waiting) == 4
    for row in waiting:
        assert row.attempts == 1 and row.given_up_at is None and row.claim_token is None
        assert "ConnectionRefusedError" in row.last_error
        assert row.next_attempt_at == t0 + timedelta(seconds=BASE)

    # Not due yet: nothing is tried before the back-off has passed.
    assert deliver_due(demo_wiring.uow_factory, settings, now=t0 + timedelta(seconds=BASE - 1)) == 0
    assert {r.attempts for r in outbox(demo_wiring) if r.sent_at is None} == {1}

    # Still down at the retry: the delay doubles.
    t1 = t0 + timedelta(seconds=BASE)
    assert deliver_due(demo_wiring.uow_factory, settings, now=t1) == 0
    assert {(r.attempts, r.next_attempt_at) for r in outbox(demo_wiring) if r.sent_at is None} == {
        (2, t1 + timedelta(seconds=2 * BASE))
    }

    smtp.start()  # the same port again
    t2 = t1 + timedelta(seconds=2 * BASE)
    assert deliver_due(demo_wiring.uow_factory, settings, now=t2) == 4
    assert deliver_due(demo_wiring.uow_factory, settings, now=t2 + timedelta(hours=2)) == 0

    ids = smtp.collector.message_ids()
    assert len(ids) == 6 and len(set(ids)) == 6
    rows = outbox(demo_wiring)
    assert len(rows) == 6 and all(r.sent_at is not None for r in rows)
    assert Counter(str(m["To"]) for m in smtp.received) == Counter(r.recipient for r in rows)


def test_concurrent_deliverers_send_each_message_once(wiring: Wiring, smtp: SmtpServer) -> None:
    now = utcnow()
    with wiring.uow_factory() as uow:
        for n in range(24):
            uow.outbox.add(OutgoingMail(f"user{n}@example.org", f"message {n}", "body"), now)
        uow.commit()
    settings = mail_settings(wiring, smtp)
    sent: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while (count := deliver_due(wiring.uow_factory, settings, now=now, limit=3)) > 0:
                sent.append(count)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert sum(sent) == 24
    subjects = [str(m["Subject"]) for m in smtp.received]
    assert sorted(subjects) == sorted(f"message {n}" for n in range(24))


def test_a_permanently_refused_message_is_given_up_after_the_maximum_attempts_and_can_be_requeued(
    wiring: Wiring, smtp: SmtpServer
) -> None:
    smtp.collector.refuse.add("nobody@example.org")
    now = utcnow()
    with wiring.uow_factory() as uow:
        uow.outbox.add(OutgoingMail("nobody@example.org", "refused", "body"), now)
        uow.outbox.add(OutgoingMail("somebody@example.org", "accepted", "body"), now)
        uow.commit()
    settings = mail_settings(wiring, smtp, smtp_max_attempts=2)

    assert deliver_due(wiring.uow_factory, settings, now=now) == 1
    refused = outbox(wiring)[0]
    assert refused.attempts == 1 and refused.given_up_at is None and "550" in refused.last_error
    assert deliver_due(wiring.uow_factory, settings, now=now + timedelta(hours=1)) == 0
    refused = outbox(wiring)[0]
    assert refused.attempts == 2 and refused.given_up_at is not None and refused.sent_at is None
    assert deliver_due(wiring.uow_factory, settings, now=now + timedelta(days=1)) == 0
    with wiring.uow_factory() as uow:
        assert uow.outbox.counts(now + timedelta(days=1)) == {
            "sent": 1,
            "due": 0,
            "waiting": 0,
            "given_up": 1,
        }

    smtp.collector.refuse.clear()
    later = now + timedelta(days=2)
    with wiring.uow_factory() as uow:
        assert uow.outbox.requeue_given_up(later) == 1
        uow.commit()
    assert deliver_due(wiring.uow_factory, settings, now=later) == 1
    assert [str(m["Subject"]) for m in smtp.received] == ["accepted", "refused"]


def test_attachments_arrive_byte_for_byte(wiring: Wiring, smtp: SmtpServer) -> None:
    workbook = bytes(range(256)) * 40
    csv_text = f"EDC reference,ULN\r\nEDC0000001,{TEST_LEARNER}\r\n".encode()
    with wiring.uow_factory() as uow:
        uow.outbox.add(
            OutgoingMail(
                "edc@example.org",
                "weekly",
                "see attached",
                (
                    Attachment(
                        "report.xlsx",
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        workbook,
                    ),
                    Attachment("report.csv", "text/csv", csv_text),
                ),
            ),
            utcnow(),
        )
        uow.commit()
    assert deliver_due(wiring.uow_factory, mail_settings(wiring, smtp)) == 1
    (message,) = smtp.received
    files = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert files["report.xlsx"] == workbook
    assert files["report.csv"].replace("\r\n", "\n") == csv_text.decode().replace("\r\n", "\n")


def test_a_failure_records_a_short_error_without_the_smtp_password(wiring: Wiring, smtp: SmtpServer) -> None:
    with wiring.uow_factory() as uow:
        uow.outbox.add(OutgoingMail("edc@example.org", "s", "b"), utcnow())
        uow.commit()
    settings = wiring.settings.with_(smtp_url=f"smtp://mailer:S3cretPassw0rd@127.0.0.1:{smtp.port}")
    assert deliver_due(wiring.uow_factory, settings) == 0
    (row,) = outbox(wiring)
    assert row.attempts == 1 and row.last_error
    assert "S3cretPassw0rd" not in row.last_error and len(row.last_error) <= 300


def test_an_engine_is_accepted_in_place_of_a_unit_of_work_factory(wiring: Wiring, smtp: SmtpServer) -> None:
    with wiring.uow_factory() as uow:
        uow.outbox.add(OutgoingMail("edc@example.org", "s", "b"), utcnow())
        uow.commit()
    assert deliver_due(wiring.engine, mail_settings(wiring, smtp)) == 1


def test_a_claim_whose_deliverer_died_is_taken_again_after_its_lease(
    wiring: Wiring, smtp: SmtpServer
) -> None:
    now = utcnow()
    with wiring.uow_factory() as uow:
        uow.outbox.add(OutgoingMail("edc@example.org", "s", "b"), now)
        uow.commit()
        claimed = uow.outbox.claim_due(
            now, token="dead" * 8, lease_until=now + timedelta(minutes=10), limit=10
        )
        uow.commit()
    assert len(claimed) == 1
    settings = mail_settings(wiring, smtp)
    assert deliver_due(wiring.uow_factory, settings, now=now + timedelta(minutes=5)) == 0
    assert deliver_due(wiring.uow_factory, settings, now=now + timedelta(minutes=11)) == 1
    with wiring.uow_factory() as uow:
        assert uow.outbox.mark_sent(claimed[0].id, "dead" * 8, datetime(2030, 1, 1)) is False
        uow.commit()
    assert len(smtp.received) == 1


def test_the_batch_worker_delivers_the_outbox_on_its_rounds(demo_wiring: Wiring, smtp: SmtpServer) -> None:
    from lrs_ws.jobs.worker import BatchWorker

    edc = raise_edc(demo_wiring)
    wiring = dataclasses.replace(demo_wiring, settings=mail_settings(demo_wiring, smtp))
    BatchWorker(wiring, threading.Event()).run(once=True)
    assert [str(m["To"]) for m in smtp.received] == ["demo1.edc@demo1.example"]
    assert edc.reference in str(smtp.received[0]["Subject"])
    assert all(row.sent_at is not None for row in outbox(demo_wiring))
