"""Operating the live server: /metrics across gunicorn workers, the JSON request log, graceful shutdown."""

from __future__ import annotations

import os
import re
import signal
import socket

import requests
from support.databases import DEMO, build_database, remove_database
from support.demo import DEMO1_USER, JAMES, ORG1
from support.hardening import LogCursor, json_lines, wait_until_accepted, worker_pids
from support.server import LiveServer
from support.soap import DEMO1, DEMO_PASSWORD, expect_fault

SERVICES = "http://api.lrs.qcf.gov.uk/services"
MODEL = "http://api.lrs.qcf.gov.uk/model"


def scrape(server: LiveServer) -> str:
    answer = requests.get(f"{server.base_url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return answer.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return 0.0


def test_metrics_count_every_request_and_fault_whichever_worker_served_or_answers_the_scrape(
    live_server, soap
):
    before = scrape(live_server)
    faults_before = sample(before, "lrs_ws_faults_total", operation="GetAchievement", code="WSEC0105")
    ok_before = sample(before, "lrs_ws_requests_total", operation="FindLearnerByUln", outcome="ok")
    doctype_before = sample(before, "lrs_ws_guard_refusals_total", reason="doctype")
    for _ in range(6):
        expect_fault("WSEC0105", soap.GetAchievement, invokingUser=DEMO1, achievementId=987654321)
        soap.FindLearnerByUln(invokingUser=DEMO1, uln=JAMES)
    refused = requests.post(
        live_server.soap_url, data=b"<!DOCTYPE x><x/>", headers={"Content-Type": "text/xml"}, timeout=10
    )
    assert refused.status_code == 500
    # Several scrapes, answered by either worker, all see the sum over both workers.
    for _ in range(4):
        after = scrape(live_server)
        assert sample(after, "lrs_ws_faults_total", operation="GetAchievement", code="WSEC0105") == (
            faults_before + 6
        )
        ok = sample(after, "lrs_ws_requests_total", operation="FindLearnerByUln", outcome="ok")
        assert ok == ok_before + 6
        assert sample(after, "lrs_ws_guard_refusals_total", reason="doctype") == doctype_before + 1
    assert sample(after, "lrs_ws_request_duration_seconds_count", operation="FindLearnerByUln") >= 6
    bucket = "lrs_ws_request_duration_seconds_bucket"
    everything = sample(after, bucket, operation="FindLearnerByUln", le="+Inf")
    assert everything >= 6


def test_metrics_report_the_database_batch_queue_and_outbox_backlog(live_server):
    text = scrape(live_server)
    assert sample(text, "lrs_ws_database_up") == 1.0
    assert "lrs_ws_batch_queue_depth{" in text and 'status="Waiting"' in text
    assert "\nlrs_ws_outbox_backlog " in text


def test_each_request_leaves_one_json_log_line_with_id_operation_organisation_outcome_and_duration(
    live_server, soap
):
    log = LogCursor(live_server)
    response = requests.post(
        live_server.soap_url,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        data=(
            f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}" '
            f'xmlns:m="{MODEL}"><soap:Body><s:FindLearnerByUln><s:invokingUser><m:OrgPassword>{DEMO_PASSWORD}'
            f"</m:OrgPassword><m:OrganisationRef>{ORG1}</m:OrganisationRef><m:UserName>{DEMO1_USER}</m:UserName>"
            f"</s:invokingUser><s:uln>{JAMES}</s:uln></s:FindLearnerByUln></soap:Body></soap:Envelope>"
        ).encode(),
        timeout=10,
    )
    assert response.status_code == 200
    line = log.request_line(response.headers["X-Request-Id"])
    assert line["operation"] == "FindLearnerByUln"
    who = (line["organisation"], line["user"], line["outcome"], line["status"])
    assert who == ("DEMO01", "demo1.edc", "ok", 200)
    assert isinstance(line["duration_ms"], float) and line["pid"] in worker_pids(live_server)
    assert all(isinstance(entry, dict) for entry in json_lines(log.seen))


def test_a_request_in_flight_when_the_server_is_told_to_stop_is_still_answered(backend, tmp_path):
    url = build_database(backend, tmp_path, DEMO)
    server = LiveServer(url, tmp_path / "server.log").start()
    try:
        body = (
            f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}" '
            f'xmlns:m="{MODEL}"><soap:Body><s:FindLearnerByUln><s:invokingUser><m:OrgPassword>{DEMO_PASSWORD}'
            f"</m:OrgPassword><m:OrganisationRef>{ORG1}</m:OrganisationRef><m:UserName>{DEMO1_USER}</m:UserName>"
            f"</s:invokingUser><s:uln>{JAMES}</s:uln></s:FindLearnerByUln></soap:Body></soap:Envelope>"
        ).encode()
        head = (
            f"POST /ExternalService.svc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head + body[:100])
            wait_until_accepted(server, sock)  # a worker is now reading this request
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGTERM)
            sock.sendall(body[100:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert b"<s0:GivenName>James</s0:GivenName>" in answer or b"GivenName>James<" in answer
        assert server.process.wait(timeout=30) == 0
        entries = json_lines(server.log_text())
        assert not [e for e in entries if e.get("msg") == "shutdown deadline passed"]
        assert not [e for e in entries if e.get("level") in ("ERROR", "CRITICAL")]
    finally:
        server.stop()
        remove_database(backend, url)
