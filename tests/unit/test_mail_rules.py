"""E-mail delivery rules that need no server: SMTP URLs, back-off, which failures are permanent."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest

from lrs_ws.domain.mail import retry_delay
from lrs_ws.jobs.mailer import describe_error, is_permanent, parse_smtp_url


def test_smtp_urls_name_host_port_tls_and_credentials() -> None:
    plain = parse_smtp_url("smtp://mail.example.org:2525")
    assert (plain.host, plain.port, plain.implicit_tls, plain.starttls, plain.username) == (
        "mail.example.org",
        2525,
        False,
        False,
        None,
    )
    assert parse_smtp_url("smtp://mail.example.org").port == 25
    assert parse_smtp_url("smtp+starttls://mail.example.org").starttls is True
    secure = parse_smtp_url("smtps://relay%40lrs:p%40ss@mail.example.org")
    assert (secure.port, secure.implicit_tls, secure.username, secure.password) == (
        465,
        True,
        "relay@lrs",
        "p@ss",
    )
    assert "p@ss" not in repr(secure)


@pytest.mark.parametrize("url", ["http://mail.example.org", "smtp://", "mail.example.org:25", ""])
def test_anything_else_is_not_an_smtp_url(url: str) -> None:
    with pytest.raises(ValueError):
        parse_smtp_url(url)


def test_the_retry_delay_doubles_from_the_base_and_stops_at_an_hour() -> None:
    assert [retry_delay(n, 2.0).total_seconds() for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay(40, 2.0) == timedelta(hours=1)


def test_only_5xx_refusals_are_permanent() -> None:
    assert is_permanent(smtplib.SMTPDataError(554, b"rejected"))
    assert is_permanent(smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"no such user")}))
    assert not is_permanent(smtplib.SMTPRecipientsRefused({"a@example.org": (451, b"try later")}))
    assert not is_permanent(smtplib.SMTPServerDisconnected("gone"))
    assert not is_permanent(ConnectionRefusedError(111, "Connection refused"))
    assert describe_error(smtplib.SMTPDataError(554, b"rejected")) == "SMTP 554: rejected"
    assert describe_error(ConnectionRefusedError(111, "Connection refused")) == (
        "ConnectionRefusedError: Connection refused"
    )
