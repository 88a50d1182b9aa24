"""E-mail to a server that is not there: each message is logged once with its reason (not at every retry),
`lrs-ws mail status` shows each unsent message's last error, and `lrs-ws mail retry --now` sends the waiting
messages as soon as the server is back. A refused STARTTLS closes its socket."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from support.server import free_port
from support.smtp import SmtpServer

from lrs_ws.app import Wiring
from lrs_ws.cli import main
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.mail import OutgoingMail
from lrs_ws.jobs import mailer


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def mail_log() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("lrs_ws.mailer")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def queue(w: Wiring, *recipients: str) -> None:
    with w.uow_factory() as uow:
        for r in recipients:
            uow.outbox.add(OutgoingMail(r, f"Hello {r}", "body"), utcnow())
        uow.commit()


def test_an_unreachable_server_is_logged_once_per_message_with_its_reason(
    demo_wiring: Wiring, mail_log: Records
) -> None:
    queue(demo_wiring, "a@example.org", "b@example.org")
    down = f"smtp://127.0.0.1:{free_port()}"
    settings = demo_wiring.settings.with_(smtp_url=down, smtp_retry_base_seconds=1)
    now = utcnow()
    for minutes in range(0, 4 * 60, 60):  # four rounds, each after every back-off has passed
        assert mailer.deliver_due(demo_wiring.uow_factory, settings, now + timedelta(minutes=minutes)) == 0
    warnings = [r for r in mail_log.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2
    for record in warnings:
        assert record.getMessage() == "mail delivery failed"
        assert "attempt 1" in record.detail and "ConnectionRefusedError: Connection refused" in record.detail  # type: ignore[attr-defined]
    with demo_wiring.uow_factory() as uow:
        assert [m.attempts for m in uow.outbox.pending(10)][-2:] == [4, 4]


def test_mail_status_shows_each_unsent_messages_last_error_and_retry_now_sends_them(
    demo_wiring: Wiring, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv("LRS_WS_DATABASE_URL", demo_wiring.settings.database_url)
    monkeypatch.setenv("LRS_WS_LOG_JSON", "false")
    monkeypatch.setenv("LRS_WS_SMTP_URL", f"smtp://127.0.0.1:{port}")
    with demo_wiring.uow_factory() as uow:
        already = len(uow.outbox.pending(1000))
    queue(demo_wiring, "waiting@example.org")
    assert main(["mail", "retry", "--now"]) == 1  # the server is down: nothing sent, said so
    assert capsys.readouterr().out.strip() == (
        f"0 message(s) delivered, {already + 1} not sent; see `lrs-ws mail status`"
    )

    assert main(["mail", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    mine = [line for line in lines if "waiting@example.org" in line]
    assert len(mine) == 1
    assert "1 failed attempt(s), next attempt " in mine[0]
    assert mine[0].endswith("last error: ConnectionRefusedError: Connection refused")

    smtp = SmtpServer(port).start()
    try:
        assert main(["mail", "retry", "--now"]) == 0
        assert capsys.readouterr().out.strip() == f"{already + 1} message(s) delivered, 0 not sent"
        assert "waiting@example.org" in [str(m["To"]) for m in smtp.received]
    finally:
        smtp.stop()


def test_a_refused_starttls_closes_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[smtplib.SMTP] = []

    class Tracked(smtplib.SMTP):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            opened.append(self)

    monkeypatch.setattr(mailer.smtplib, "SMTP", Tracked)
    smtp = SmtpServer().start()  # offers no STARTTLS
    try:
        target = mailer.parse_smtp_url(f"smtp+starttls://127.0.0.1:{smtp.port}")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            mailer._connect(target)
    finally:
        smtp.stop()
    assert len(opened) == 1 and opened[0].sock is None
