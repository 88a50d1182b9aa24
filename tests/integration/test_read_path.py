"""The read path in process: what a call costs besides its answer."""

from __future__ import annotations

import gc
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.demo import DEMO1_USER, DEMO_PASSWORD, ORG1, TEST_LEARNER

from lrs_ws.app import Wiring, create_app

ENVELOPE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:s="http://api.lrs.qcf.gov.uk/services" xmlns:m="http://api.lrs.qcf.gov.uk/model"><soap:Body>'
    "<s:{op}><s:invokingUser>"
    f"<m:OrgPassword>{DEMO_PASSWORD}</m:OrgPassword><m:OrganisationRef>{ORG1}</m:OrganisationRef>"
    f"<m:UserName>{DEMO1_USER}</m:UserName></s:invokingUser>"
    "{params}</s:{op}></soap:Body></soap:Envelope>"
)
LEARNER_ACHIEVEMENTS = ENVELOPE.format(
    op="GetLearnerAchievements", params=f"<s:uln>{TEST_LEARNER}</s:uln>"
).encode()


def post(app: Callable[..., Any], body: bytes) -> tuple[str, bytes]:
    """One SOAP POST straight into the WSGI application; (status, body)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/ExternalService.svc",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "text/xml; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    status: list[str] = []
    result = app(environ, lambda s, _headers, _exc=None: status.append(s))
    try:
        answer = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return status[0], answer


@pytest.fixture
def demo_app(demo_wiring: Wiring) -> Iterator[Callable[..., Any]]:
    app = create_app(demo_wiring.settings)
    yield app
    app.wiring.engine.dispose()  # type: ignore[attr-defined]


def test_a_call_a_second_after_the_last_runs_no_full_garbage_collection(demo_app: Callable[..., Any]) -> None:
    assert post(demo_app, LEARNER_ACHIEVEMENTS)[0].startswith("200")
    time.sleep(1.1)  # spyne collected after any request that came a second after its last collection
    full: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(info["generation"])

    gc.callbacks.append(note)
    gc.disable()  # only a collection the call asks for explicitly is counted
    try:
        status, _ = post(demo_app, LEARNER_ACHIEVEMENTS)
    finally:
        gc.enable()
        gc.callbacks.remove(note)
    assert status.startswith("200")
    assert full == []


def _counting(app: Any) -> dict[str, int]:
    """Counts of pool checkouts and transactions begun on the app's engine from now on."""
    from sqlalchemy import event

    counts = {"checkouts": 0, "transactions": 0}
    engine = app.wiring.engine
    event.listen(engine, "checkout", lambda *_: counts.__setitem__("checkouts", counts["checkouts"] + 1))
    event.listen(engine, "begin", lambda *_: counts.__setitem__("transactions", counts["transactions"] + 1))
    return counts


@pytest.mark.parametrize(
    "body",
    [
        LEARNER_ACHIEVEMENTS,
        ENVELOPE.format(op="GetAchievement", params="<s:achievementId>1</s:achievementId>").encode(),
    ],
    ids=["GetLearnerAchievements", "GetAchievement"],
)
def test_a_read_takes_one_connection_and_one_transaction_for_authentication_and_the_operation(
    demo_app: Any, body: bytes
) -> None:
    demo_app.maintenance.seconds = float("inf")  # the maintenance window is read once, by the first call
    assert post(demo_app, body)[0].startswith("200")
    counts = _counting(demo_app)
    status, answer = post(demo_app, body)
    assert status.startswith("200"), answer
    assert counts == {"checkouts": 1, "transactions": 1}
    assert demo_app.wiring.engine.pool.checkedout() == 0
    refused = body.replace(DEMO_PASSWORD.encode(), b"WrongPassword001")
    assert b"WSEC0003" in post(demo_app, refused)[1]
    assert demo_app.wiring.engine.pool.checkedout() == 0


def _statements_sent(app: Any) -> list[str]:
    """The SQL the driver is given from now on, on each connection the app's engine checks out: counted by
    the driver itself, so statements sent on its cursor directly (db/driver_sql.py) are counted too."""
    from sqlalchemy import event

    sent: list[str] = []

    def watch(dbapi_connection: Any, *_: Any) -> None:
        if hasattr(dbapi_connection, "set_trace_callback"):  # sqlite3
            dbapi_connection.set_trace_callback(sent.append)
            return

        class Counting(dbapi_connection.cursor_factory):  # type: ignore[name-defined,misc]
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                sent.append(str(query))
                return super().execute(query, *args, **kwargs)

        dbapi_connection.cursor_factory = Counting

    event.listen(app.wiring.engine, "checkout", watch)
    return sent


@pytest.mark.parametrize(
    ("body", "statements"),
    [
        # the pair's failed logins, the user with its organisation, the learner, the page with its count
        (LEARNER_ACHIEVEMENTS, 4),
        # the pair's failed logins, the user with its organisation, the achievement
        (ENVELOPE.format(op="GetAchievement", params="<s:achievementId>1</s:achievementId>").encode(), 3),
    ],
    ids=["GetLearnerAchievements", "GetAchievement"],
)
def test_a_read_with_a_remembered_password_sends_one_statement_for_each_thing_it_reads(
    demo_app: Any, body: bytes, statements: int
) -> None:
    demo_app.maintenance.seconds = float("inf")
    assert post(demo_app, body)[0].startswith("200")  # the password check is remembered from here on
    sent = _statements_sent(demo_app)
    status, answer = post(demo_app, body)
    assert status.startswith("200"), answer
    selects = [sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == statements, sent
