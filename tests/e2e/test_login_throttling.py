"""Failed-login throttling against live gunicorn workers, on SQLite and PostgreSQL: concurrent wrong
passwords record exactly the limit, and a lock holds for one (user name, source address) pair only."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import create_engine, text
from support.databases import DEMO, build_database, remove_database
from support.server import LiveServer
from support.soap import DEMO_PASSWORD, parse_fault

LIMIT = 5
ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:s="http://api.lrs.qcf.gov.uk/services" xmlns:m="http://api.lrs.qcf.gov.uk/model">
  <soap:Body><s:GetAchievement>
    <s:invokingUser><m:OrgPassword>{password}</m:OrgPassword><m:OrganisationRef>DEMO01</m:OrganisationRef>
      <m:UserName>demo1.edc</m:UserName></s:invokingUser>
    <s:achievementId>987654321</s:achievementId>
  </s:GetAchievement></soap:Body></soap:Envelope>"""


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = build_database(backend, tmp_path_factory.mktemp(f"throttle-db-{backend}"), DEMO)
    live = LiveServer(
        url,
        tmp_path_factory.mktemp("throttle-server") / "gunicorn.log",
        workers=4,
        extra_env={"LRS_WS_LOGIN_FAILURE_LIMIT": str(LIMIT), "LRS_WS_TRUSTED_PROXIES": "127.0.0.1"},
    ).start()
    yield live
    live.stop()
    remove_database(backend, url)


def call(server: LiveServer, password: str, source: str) -> str:
    """The ErrorCode answered (an answer without a fault is "ok")."""
    got = requests.post(
        server.soap_url,
        data=ENVELOPE.format(password=password).encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "X-Forwarded-For": source},
        timeout=120,
    )
    return parse_fault(got.content)[1] if got.status_code == 500 else "ok"


def recorded(server: LiveServer, source: str) -> int:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM login_failures WHERE username = 'demo1.edc' AND source = :s"),
                    {"s": source},
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("attempts", [24, 32])
def test_concurrent_wrong_passwords_record_exactly_the_limit_and_lock_only_that_source(
    server: LiveServer, attempts: int
) -> None:
    attacker, legitimate = f"192.0.2.{attempts}", f"198.51.100.{attempts}"
    barrier = threading.Barrier(attempts)
    answers: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        answer = call(server, "not-the-password", attacker)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert answers == ["WSEC0003"] * attempts
    failures = recorded(server, attacker)
    assert failures == LIMIT, f"{failures} failures recorded for {attempts} concurrent wrong passwords"
    assert call(server, DEMO_PASSWORD, attacker) == "WSEC0003"  # that pair is locked, right password or not
    assert recorded(server, attacker) == LIMIT
    assert call(server, DEMO_PASSWORD, legitimate) == "WSEC0105"  # logged in: the achievement is unknown
