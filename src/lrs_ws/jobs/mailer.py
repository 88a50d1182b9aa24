"""Outbox delivery over SMTP: claim due messages, send each, record the outcome.

Delivery is at most once per claim and, in practice, exactly once: a message is marked sent in its own
transaction the moment the SMTP server accepted it, and only the deliverer holding the claim can mark it.
The one window left is a deliverer dying between the server's acceptance and that commit; the message is
then sent again after its lease runs out, with the same Message-ID so a mail system can recognise it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from lrs_ws.config import Settings
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.mail import QueuedMail, retry_delay
from lrs_ws.domain.ports import AbstractUnitOfWork

log = logging.getLogger("lrs_ws.mailer")

LEASE = timedelta(minutes=10)
BATCH_LIMIT = 50
SMTP_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never show the password
        return f"SmtpTarget({self.host}:{self.port}, tls={self.implicit_tls or self.starttls})"


def parse_smtp_url(url: str) -> SmtpTarget:
    """smtp://host:port, smtp+starttls://host:port or smtps://host:port, optionally with user:password@."""
    parts = urlsplit(url)
    schemes = {"smtp": (False, False, 25), "smtp+starttls": (False, True, 587), "smtps": (True, False, 465)}
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError("LRS_WS_SMTP_URL must look like smtp://host:port (or smtp+starttls://, smtps://)")
    implicit_tls, starttls, default_port = schemes[parts.scheme]
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or default_port,
        implicit_tls=implicit_tls,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    if target.implicit_tls:
        conn: smtplib.SMTP = smtplib.SMTP_SSL(
            target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS, context=ssl.create_default_context()
        )
    else:
        conn = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if target.starttls and not target.implicit_tls:
            conn.starttls(context=ssl.create_default_context())
        if target.username:
            conn.login(target.username, target.password or "")
    except BaseException:
        conn.close()  # a refused STARTTLS or login must not leave the socket open
        raise
    return conn


def message_id_for(queued: QueuedMail, mail_from: str) -> str:
    domain = mail_from.rpartition("@")[2] or "lrs-ws.invalid"
    return f"<outbox-{queued.id}.{queued.created_at:%Y%m%d%H%M%S}@{domain}>"


def build_message(queued: QueuedMail, mail_from: str) -> EmailMessage:
    mail = queued.mail
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(queued.created_at.replace(tzinfo=UTC), usegmt=True)
    message["Message-ID"] = message_id_for(queued, mail_from)
    message.set_content(mail.body)
    for a in mail.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        message.add_attachment(
            a.content, maintype=maintype, subtype=subtype or "octet-stream", filename=a.filename
        )
    return message


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description for last_error: the SMTP reply or the socket error, never the URL."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in exc.recipients.values()})
        return f"recipient refused (SMTP {', '.join(codes)})"
    if isinstance(exc, smtplib.SMTPResponseException):
        raw = exc.smtp_error
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return f"SMTP {exc.smtp_code}: {text[:200]}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def is_permanent(exc: BaseException) -> bool:
    """The server refused this message for good (5xx); anything else is an outage and retried forever."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def _as_factory(uow_factory_or_engine: Any) -> Callable[[], AbstractUnitOfWork]:
    if callable(uow_factory_or_engine):
        return uow_factory_or_engine  # type: ignore[no-any-return]
    from lrs_ws.db.engine import make_session_factory
    from lrs_ws.db.uow import SqlAlchemyUnitOfWork

    session_factory = make_session_factory(uow_factory_or_engine)
    return lambda: SqlAlchemyUnitOfWork(session_factory)


def deliver_due(
    uow_factory: Callable[[], AbstractUnitOfWork] | Any,
    settings: Settings,
    now: datetime | None = None,
    *,
    limit: int = BATCH_LIMIT,
) -> int:
    """Deliver the outbox messages due at `now` (default: the current time); returns how many were sent.

    Safe to run from any number of processes at once: each message is claimed by one deliverer only.
    `uow_factory` is a zero-argument callable returning a unit of work (an Engine is accepted too).
    """
    factory = _as_factory(uow_factory)
    target = parse_smtp_url(settings.smtp_url)  # a misconfiguration fails before anything is claimed
    now = now or utcnow()
    token = uuid.uuid4().hex
    uow = factory()
    with uow:
        claimed = list(uow.outbox.claim_due(now, token=token, lease_until=now + LEASE, limit=limit))
        uow.commit()
    if not claimed:
        return 0

    def finish(action: Callable[[AbstractUnitOfWork], bool]) -> bool:
        done = factory()
        with done:
            ok = action(done)
            done.commit()
            return ok

    def fail(queued: QueuedMail, exc: BaseException) -> None:
        failures = queued.attempts + 1
        give_up = is_permanent(exc) and failures >= settings.smtp_max_attempts
        delay = retry_delay(failures, settings.smtp_retry_base_seconds)
        error = describe_error(exc)
        finish(
            lambda u: u.outbox.mark_failed(
                queued.id,
                token,
                next_attempt_at=now + delay,
                error=error,
                give_up_at=now if give_up else None,
            )
        )
        # Once per message and reason: an outage must not repeat the same line at every retry.
        # `lrs-ws mail status` shows each waiting message's last error.
        log.log(
            logging.WARNING if give_up or error != queued.last_error else logging.DEBUG,
            "mail delivery failed",
            extra={
                "detail": f"outbox message {queued.id}, attempt {failures}"
                f"{' (given up)' if give_up else f', retried from {now + delay:%H:%M:%S} UTC'}"
                f": {error}"
            },
        )

    started = time.monotonic()
    sent = 0
    try:
        conn = _connect(target)
    except (OSError, smtplib.SMTPException) as exc:
        for queued in claimed:
            fail(queued, exc)
        return 0
    try:
        for index, queued in enumerate(claimed):
            if time.monotonic() - started > LEASE.total_seconds() / 2:
                # Stop well before the lease runs out, so no other deliverer can take a message we still hold.
                for rest in claimed[index:]:
                    finish(lambda u, q=rest: u.outbox.release(q.id, token))  # type: ignore[misc]
                break
            try:
                conn.send_message(build_message(queued, settings.mail_from))
            except (OSError, smtplib.SMTPException) as exc:
                fail(queued, exc)
                if not isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
                    # The connection itself is unusable: the rest wait for the next round.
                    for rest in claimed[index + 1 :]:
                        fail(rest, exc)
                    break
                continue
            if finish(lambda u, q=queued: u.outbox.mark_sent(q.id, token, now)):  # type: ignore[misc]
                sent += 1
                log.info("mail delivered", extra={"detail": f"outbox message {queued.id}"})
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return sent
