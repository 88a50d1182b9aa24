"""Replayed UsernameTokens and password guessing against live gunicorn servers with two workers.

Each test gets servers of its own (real limits: five failures in the window) over a fresh demo database.
"""

from __future__ import annotations

import base64
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select
from support.demo import DEMO1_USER, JAMES
from support.hardening import LogCursor, assert_no_leak, json_lines, wait_until_accepted
from support.server import LiveServer
from support.soap import DEMO_PASSWORD, parse_fault

from lrs_ws.db.tables_security import login_failures, security_nonces

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
SERVICES = "http://api.lrs.qcf.gov.uk/services"
MODEL = "http://api.lrs.qcf.gov.uk/model"
WINDOW_SECONDS = 4
WRONG = f"Wrong-{uuid.uuid4().hex[:12]}"


def created(offset_seconds: float = 0) -> str:
    when = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def token_envelope(
    username: str = DEMO1_USER,
    password: str = DEMO_PASSWORD,
    nonce: str | None = None,
    when: str | None = None,
) -> bytes:
    parts = [
        f"<wsse:Username>{username}</wsse:Username>",
        f'<wsse:Password Type="{PROFILE}#PasswordText">{password}</wsse:Password>',
    ]
    if nonce is not None:
        parts.append(f"<wsse:Nonce>{nonce}</wsse:Nonce>")
    if when is not None:
        parts.append(f"<wsu:Created>{when}</wsu:Created>")
    return (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}">'
        f'<soap:Header><wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        + "".join(parts)
        + "</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body>"
        f"<s:FindLearnerByUln><s:uln>{JAMES}</s:uln></s:FindLearnerByUln></soap:Body></soap:Envelope>"
    ).encode()


def body_user_envelope(username: str, password: str, org: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}" '
        f'xmlns:m="{MODEL}"><soap:Body><s:FindLearnerByUln><s:invokingUser><m:OrgPassword>{password}'
        f"</m:OrgPassword><m:OrganisationRef>{org}</m:OrganisationRef><m:UserName>{username}</m:UserName>"
        f"</s:invokingUser><s:uln>{JAMES}</s:uln></s:FindLearnerByUln></soap:Body></soap:Envelope>"
    ).encode()


def post(server: LiveServer, body: bytes) -> requests.Response:
    return requests.post(
        server.soap_url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30
    )


def accepted(answer: requests.Response) -> bool:
    assert answer.status_code in (200, 500), answer.text[:300]
    if answer.status_code == 200:
        assert b"FindLearnerByUlnResult" in answer.content
        return True
    return False


def refusal(answer: requests.Response) -> str:
    """The WSEC0003 fault's message (asserting that is what came back)."""
    assert answer.status_code == 500, answer.text[:300]
    _, code, message = parse_fault(answer.content)
    assert code == "WSEC0003", (code, message)
    return message


def new_nonce() -> str:
    return base64.b64encode(uuid.uuid4().bytes).decode()


def start_server(db, tmp_path, name: str = "server") -> LiveServer:
    return LiveServer(
        db.settings.database_url,
        tmp_path / f"{name}.log",
        extra_env={
            "LRS_WS_LOGIN_FAILURE_LIMIT": "5",
            "LRS_WS_LOGIN_FAILURE_WINDOW_SECONDS": str(WINDOW_SECONDS),
        },
        # Sync workers, so that a Blocker holding one process steers the next request to the other.
        # (gunicorn turns sync into gthread when threads > 1, so one thread is asked for too.)
        gunicorn_args=("--worker-class", "sync", "--threads", "1"),
    ).start()


@pytest.fixture
def server(demo_wiring, tmp_path):
    s = start_server(demo_wiring, tmp_path)
    yield s
    s.stop()


def count(db, table) -> int:
    with db.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


class Blocker:
    """Keeps one sync worker process busy: a connection that has sent only part of its headers."""

    def __init__(self, server: LiveServer) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        wait_until_accepted(server, self.sock)

    def release(self) -> None:
        self.sock.sendall(b"Connection: close\r\n\r\n")
        assert self.sock.recv(100).startswith(b"HTTP/1.1 200")
        self.sock.close()


def pid_of(server: LiveServer, answer: requests.Response) -> int:
    request_id = answer.headers["X-Request-Id"]
    for _ in range(50):
        for entry in json_lines(server.log_text()):
            if entry.get("request_id") == request_id and entry.get("msg") == "request":
                return int(entry["pid"])  # type: ignore[arg-type]
        time.sleep(0.1)
    raise AssertionError(f"no log line for request {request_id}")


def test_a_nonce_used_on_one_worker_is_refused_on_the_other(server, demo_wiring):
    nonce, when = new_nonce(), created()
    first_blocker = Blocker(server)  # worker A busy: the first use goes to worker B
    first = post(server, token_envelope(nonce=nonce, when=when))
    assert accepted(first)
    second_blocker = Blocker(server)  # worker B busy now ...
    first_blocker.release()  # ... and A free: the replay goes to A
    replay = post(server, token_envelope(nonce=nonce, when=when))
    second_blocker.release()
    refusal(replay)
    assert pid_of(server, first) != pid_of(server, replay)
    assert count(demo_wiring, security_nonces) == 1


def test_a_nonce_used_before_a_restart_is_refused_after_it(demo_wiring, tmp_path):
    nonce, when = new_nonce(), created()
    before = start_server(demo_wiring, tmp_path, "before")
    try:
        assert accepted(post(before, token_envelope(nonce=nonce, when=when)))
    finally:
        before.stop()
    after = start_server(demo_wiring, tmp_path, "after")
    try:
        refusal(post(after, token_envelope(nonce=nonce, when=when)))
        assert count(demo_wiring, security_nonces) == 1
        assert accepted(post(after, token_envelope(nonce=new_nonce(), when=created())))
    finally:
        after.stop()


def test_a_created_older_than_five_minutes_or_more_than_a_minute_ahead_is_refused(server, demo_wiring):
    wrong_password_message = refusal(post(server, token_envelope(password=WRONG)))
    for offset in (-301, -3600, 61, 86400):
        message = refusal(post(server, token_envelope(nonce=new_nonce(), when=created(offset))))
        assert message == wrong_password_message
    assert count(demo_wiring, security_nonces) == 0
    for offset in (-290, 0, 50):
        assert accepted(post(server, token_envelope(nonce=new_nonce(), when=created(offset))))
    assert count(demo_wiring, security_nonces) == 3


def test_a_nonce_without_created_is_refused(server, demo_wiring):
    refusal(post(server, token_envelope(nonce=new_nonce())))
    assert count(demo_wiring, security_nonces) == 0


def test_repeated_failed_logins_lock_the_user_out_until_the_window_passes_without_saying_why(
    server, demo_wiring
):
    log = LogCursor(server)
    wrong = [refusal(post(server, body_user_envelope("demo2.edc", WRONG, "DEMO02"))) for _ in range(5)]
    failures = count(demo_wiring, login_failures)
    assert failures == 5
    # The right password, in the body or in a token, is refused with the very same message ...
    locked_body = refusal(post(server, body_user_envelope("demo2.edc", DEMO_PASSWORD, "DEMO02")))
    locked_token = refusal(post(server, token_envelope("demo2.edc", nonce=new_nonce(), when=created())))
    assert {locked_body, locked_token} == set(wrong[:1])
    assert count(demo_wiring, login_failures) == failures and count(demo_wiring, security_nonces) == 0
    # ... while other users are not affected.
    assert accepted(post(server, body_user_envelope("demo1.edc", DEMO_PASSWORD, "DEMO01")))
    time.sleep(WINDOW_SECONDS + 1)
    assert accepted(post(server, body_user_envelope("demo2.edc", DEMO_PASSWORD, "DEMO02")))
    # Failures out of the window no longer count; they are purged when the next failure is recorded.
    last = post(server, body_user_envelope("demo2.edc", WRONG, "DEMO02"))
    refusal(last)
    assert count(demo_wiring, login_failures) == 1
    log.request_line(last.headers["X-Request-Id"])  # written just after the answer went out
    text = log.seen
    assert_no_leak(text, (DEMO_PASSWORD, WRONG), "the server log")
    outcomes = [e.get("code") for e in json_lines(text) if e.get("msg") == "request"]
    assert outcomes.count("WSEC0003") == 8


def test_unknown_user_names_are_throttled_exactly_like_known_ones(server, demo_wiring):
    unknown = [refusal(post(server, body_user_envelope("no.such.user", WRONG, "DEMO02"))) for _ in range(6)]
    known = refusal(post(server, body_user_envelope("demo2.edc", WRONG, "DEMO02")))
    assert set(unknown) == {known}
    assert count(demo_wiring, login_failures) == 6  # the sixth unknown attempt was throttled, not counted
