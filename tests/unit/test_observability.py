"""The request observer, the JSON log format, the metrics endpoint and the shutdown hook, in one process."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from support.soap import parse_fault

from lrs_ws.observability.logs import JsonFormatter
from lrs_ws.observability.metrics import MetricsEndpoint
from lrs_ws.observability.requests import OBSERVATION_KEY, RequestObserver, observation_of
from lrs_ws.soap.faults import fault_envelope


def call(
    app: Any, path: str = "/ExternalService.svc", method: str = "POST"
) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"] = status
        seen["headers"] = dict(headers)

    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "wsgi.input": io.BytesIO(b"")}
    body = app(environ, start_response)
    data = b"".join(body)
    if hasattr(body, "close"):
        body.close()
    return seen["status"], seen["headers"], data


@pytest.fixture
def request_log() -> Any:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("lrs_ws.request")
    logger.addHandler(handler)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(old_level)
    logger.propagate = old_propagate


def observer(inner: Any) -> RequestObserver:
    return RequestObserver(
        inner, "/ExternalService.svc", lambda code, msg: fault_envelope(code, msg, "soap:Server")
    )


def test_every_request_gets_one_json_log_line_with_its_id_operation_caller_outcome_and_duration(request_log):
    def inner(environ, start_response):
        obs = observation_of(environ)
        obs.operation, obs.organisation, obs.user = "GetAchievement", "DEMO01", "demo1.edc"
        obs.code = "WSEC0105"
        start_response("500 Internal Server Error", [("Content-Type", "text/xml")])
        return [b"<fault/>"]

    status, headers, _ = call(observer(inner))
    [line] = request_log()
    assert line["request_id"] == headers["X-Request-Id"]
    who = (line["operation"], line["organisation"], line["user"])
    assert who == ("GetAchievement", "DEMO01", "demo1.edc")
    assert (line["outcome"], line["code"], line["status"]) == ("fault", "WSEC0105", 500)
    assert line["duration_ms"] >= 0 and isinstance(line["pid"], int)


def test_an_exception_escaping_the_application_becomes_a_soap_fault_logged_by_type_only(request_log, caplog):
    def inner(environ, start_response):
        raise RuntimeError("SELECT password FROM users -- must never be shown")

    status, headers, body = call(observer(inner))
    assert status.startswith("500")
    faultcode, code, message = parse_fault(body)
    assert (faultcode, code) == ("soap:Server", "WSEC0199")
    assert headers["X-Request-Id"] in message and "SELECT" not in message
    assert request_log()[-1]["code"] == "WSEC0199"


def test_health_checks_and_scrapes_are_counted_but_not_logged_when_they_succeed(request_log):
    def inner(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    call(observer(inner), "/healthz", "GET")
    call(observer(inner), "/metrics", "GET")
    assert request_log() == []


def test_the_observation_is_handed_down_in_the_environ(request_log):
    seen = {}

    def inner(environ, start_response):
        seen["obs"] = environ[OBSERVATION_KEY]
        start_response("200 OK", [])
        return []

    _, headers, _ = call(observer(inner))
    assert seen["obs"].request_id == headers["X-Request-Id"]


def test_the_metrics_endpoint_answers_in_the_prometheus_text_format_with_the_request_counts():
    def inner(environ, start_response):
        observation_of(environ).operation = "FindLearnerByUln"
        start_response("200 OK", [])
        return []

    call(observer(inner))
    status, headers, body = call(MetricsEndpoint(), "/metrics", "GET")
    assert status.startswith("200") and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert 'lrs_ws_requests_total{operation="FindLearnerByUln",outcome="ok"}' in text
    assert "lrs_ws_request_duration_seconds_bucket" in text


def test_the_json_formatter_keeps_the_exception_type_and_drops_tracebacks_even_inside_messages():
    formatter = JsonFormatter()
    try:
        raise ValueError("INSERT INTO users VALUES ('secret')")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    entry = json.loads(formatter.format(record))
    assert entry["error"] == "ValueError" and "INSERT" not in json.dumps(entry)
    inside = logging.LogRecord(
        "gunicorn.error",
        logging.WARNING,
        __file__,
        1,
        'Exception during worker exit:\nTraceback (most recent call last):\n  File "x.py", line 1',
        None,
        None,
    )
    assert json.loads(formatter.format(inside))["msg"] == "Exception during worker exit: (traceback omitted)"


def test_a_throttled_log_line_is_due_once_per_period_and_counts_what_it_left_out() -> None:
    from lrs_ws.observability.logs import Throttle

    every_hour = Throttle(3600.0)
    assert every_hour.due() == 0
    assert [every_hour.due() for _ in range(3)] == [None, None, None]
    always = Throttle(0.0)
    assert [always.due(), always.due()] == [0, 0]
    every_hour._last = float("-inf")  # the period has passed
    assert every_hour.due() == 3
