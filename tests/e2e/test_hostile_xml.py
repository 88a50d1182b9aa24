"""Hostile XML against a live gunicorn server: every case gets a SOAP Fault or a plain 4xx, costs a bounded
amount of worker CPU and memory, reads no file and opens no connection, leaks nothing, and the server answers
the next good request from the same workers.

The figures (worker CPU, RSS before/after) are printed (`pytest -s`); the only bounds asserted on them are
generous ceilings that catch unbounded growth (the measured costs are two orders of magnitude below them).
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
import requests
from support.demo import DEMO1_USER, ORG1, TEST_LEARNER
from support.hardening import (
    SOAP_CONTENT_TYPE,
    LogCursor,
    RawResponse,
    assert_no_leak,
    chunked,
    json_lines,
    measured,
    raw_post,
    worker_pids,
)
from support.soap import DEMO_PASSWORD, parse_fault

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SERVICES = "http://api.lrs.qcf.gov.uk/services"
MODEL = "http://api.lrs.qcf.gov.uk/model"
MAX_REQUEST_BYTES = 10 * 1024 * 1024

CPU_CEILING_SECONDS = 5.0  # spyne alone spends ~28 s on an attribute flood; the guard's answer costs ms
RSS_GROWTH_CEILING_KIB = 96 * 1024

USER = (
    f"<s:invokingUser><m:OrgPassword>{DEMO_PASSWORD}</m:OrgPassword><m:OrganisationRef>{ORG1}"
    f"</m:OrganisationRef><m:UserName>{DEMO1_USER}</m:UserName></s:invokingUser>"
)


def envelope(body: str, header: str = "", ns: str = SOAP11, prolog: str = "") -> bytes:
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (
        f'{prolog}<soap:Envelope xmlns:soap="{ns}" xmlns:s="{SERVICES}" xmlns:m="{MODEL}">{head}'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


GOOD = envelope(f"<s:GetLearnerAchievements>{USER}<s:uln>{TEST_LEARNER}</s:uln></s:GetLearnerAchievements>")


def post(server, body: bytes, content_type: str = SOAP_CONTENT_TYPE, **kwargs) -> requests.Response:
    headers = {"Content-Type": content_type}
    return requests.post(server.soap_url, data=body, headers=headers, timeout=60, **kwargs)


def assert_soap_fault(status: int, content_type: str, body: bytes, faultcode: str = "Client") -> str:
    """A SOAP 1.1 Fault with a DomainFault WSEC0001 detail; returns its message."""
    assert status == 500, (status, body[:300])
    assert content_type.startswith("text/xml"), content_type
    code, error_code, message = parse_fault(body)
    assert code.endswith(faultcode), code
    assert error_code == "WSEC0001"
    return message


def assert_still_serving(server, pids_before: list[int]) -> None:
    """Good requests are answered (both workers get a chance) and no worker was replaced."""
    for _ in range(4):
        answer = post(server, GOOD)
        assert answer.status_code == 200, answer.text[:500]
        assert b"<s0:GivenName>Test</s0:GivenName>" in answer.content or b"GivenName>Test<" in answer.content
    assert worker_pids(server) == pids_before


@pytest.fixture
def hostile(live_server, request):
    """Runs one hostile request: measures it, then checks the server's health and its log."""

    class Probe:
        def __init__(self) -> None:
            self.server = live_server
            self.pids = worker_pids(live_server)
            self.log = LogCursor(live_server)
            self.secrets: tuple[str, ...] = (DEMO_PASSWORD,)

        def send(self, do):  # type: ignore[no-untyped-def]
            with measured(live_server) as cost:
                answer = do()
            print("\n" + cost.describe(request.node.name))
            assert cost.cpu < CPU_CEILING_SECONDS, cost.describe("CPU")
            assert cost.rss_growth_kib < RSS_GROWTH_CEILING_KIB, cost.describe("memory")
            body = answer.body if isinstance(answer, RawResponse) else answer.content
            self.request_id = answer.headers.get("x-request-id") or answer.headers.get("X-Request-Id")
            assert_no_leak(body.decode("utf-8", "replace"), self.secrets, "the response")
            self.answer = answer
            return answer

        def finish(self) -> None:
            assert_still_serving(live_server, self.pids)
            line = self.log.request_line(self.request_id)
            assert line["outcome"] in ("refused", "fault"), line
            assert_no_leak(self.log.seen, self.secrets, "the server log")
            json_lines(self.log.seen)

    probe = Probe()
    assert_still_serving(live_server, probe.pids)  # also warms both workers up before measuring
    yield probe
    probe.finish()


def fault_of(answer: requests.Response, faultcode: str = "Client") -> str:
    return assert_soap_fault(answer.status_code, answer.headers["Content-Type"], answer.content, faultcode)


# -- entities ----------------------------------------------------------------------------------------------


def test_an_internal_entity_xxe_is_refused_before_any_entity_is_declared(hostile):
    secret = f"internal-{uuid.uuid4().hex}"
    hostile.secrets += (secret,)
    prolog = f'<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY leak "{secret}">]>'
    body = envelope(
        f"<s:GetLearnerAchievements>{USER}<s:uln>&leak;</s:uln></s:GetLearnerAchievements>", prolog=prolog
    )
    answer = hostile.send(lambda: post(hostile.server, body))
    assert "DOCTYPE" in fault_of(answer)


def test_an_external_entity_xxe_never_reads_the_file_it_names(hostile, tmp_path: Path):
    secret = f"external-{uuid.uuid4().hex}"
    hostile.secrets += (secret,)
    target = tmp_path / "secret.txt"
    target.write_text(secret)
    # relatime updates the access time on a read when it is older than the modification time.
    os.utime(target, (1, target.stat().st_mtime))
    atime_before = target.stat().st_atime
    prolog = f'<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY leak SYSTEM "file://{target}">]>'
    body = envelope(
        f"<s:GetLearnerAchievements>{USER}<s:uln>&leak;</s:uln></s:GetLearnerAchievements>", prolog=prolog
    )
    answer = hostile.send(lambda: post(hostile.server, body))
    assert "DOCTYPE" in fault_of(answer)
    assert target.stat().st_atime == atime_before, "the file was read"


def test_an_external_entity_over_the_network_opens_no_connection(hostile):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/evil.dtd"
        prolog = (
            f'<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY % remote SYSTEM "{url}"> %remote;'
            f'<!ENTITY general SYSTEM "{url}">]>'
        )
        body = envelope("<s:Ping>&general;</s:Ping>", prolog=prolog)
        answer = hostile.send(lambda: post(hostile.server, body))
        assert "DOCTYPE" in fault_of(answer)
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_billion_laughs_is_refused_without_expanding_anything(hostile):
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    body = envelope("<s:Ping>&lol9;</s:Ping>", prolog=f"<!DOCTYPE soap:Envelope [{entities}]>")
    answer = hostile.send(lambda: post(hostile.server, body))
    assert "DOCTYPE" in fault_of(answer)


def test_a_quadratic_blowup_is_refused_without_expanding_anything(hostile):
    big = "A" * 100_000
    body = envelope(
        "<s:Ping>" + "&big;" * 50_000 + "</s:Ping>",
        prolog=f'<!DOCTYPE soap:Envelope [<!ENTITY big "{big}">]>',
    )
    answer = hostile.send(lambda: post(hostile.server, body))
    assert "DOCTYPE" in fault_of(answer)


# -- shape -------------------------------------------------------------------------------------------------


def test_deep_nesting_is_refused_at_the_depth_limit(hostile):
    depth = 100_000
    body = envelope("<a>" * depth + "</a>" * depth)
    answer = hostile.send(lambda: post(hostile.server, body))
    assert "nested too deeply" in fault_of(answer)


def test_an_attribute_flood_is_refused_before_the_parser_builds_the_attributes(hostile):
    attributes = " ".join(f'a{i}="x"' for i in range(100_000))
    body = envelope(f"<s:Ping {attributes}/>")
    answer = hostile.send(lambda: post(hostile.server, body))
    assert "attributes" in fault_of(answer)


def test_a_flood_of_small_elements_within_the_size_limit_is_refused_at_the_element_limit(hostile):
    body = envelope(
        f"<s:GetAchievement>{USER}<s:achievementId>1</s:achievementId>"
        + "<s:x/>" * 1_400_000
        + "</s:GetAchievement>"
    )
    assert len(body) < MAX_REQUEST_BYTES
    answer = hostile.send(lambda: post(hostile.server, body))
    assert "elements" in fault_of(answer)


def test_a_very_long_element_name_is_refused(hostile):
    name = "n" * 1_000_000
    body = envelope(f"<s:{name}/>")
    answer = hostile.send(lambda: post(hostile.server, body))
    assert "name" in fault_of(answer)


def test_a_very_long_text_value_is_a_schema_fault_and_its_memory_is_given_back(hostile):
    text = "G" * (9 * 1024 * 1024)
    body = envelope(
        f"<s:EditAchievementGrade>{USER}<s:achievementId>1</s:achievementId>"
        f"<s:newGrade>{text}</s:newGrade></s:EditAchievementGrade>"
    )
    assert len(body) < MAX_REQUEST_BYTES
    answer = hostile.send(lambda: post(hostile.server, body))
    message = fault_of(answer)
    assert "schema" in message and text[:100] not in message


def test_a_cyclic_soap_encoding_href_is_refused(hostile):
    body = envelope(
        f'<s:GetLearnerAchievements>{USER}<s:uln href="#a"/><x id="a"><y href="#a"/></x>'
        "</s:GetLearnerAchievements>"
    )
    answer = hostile.send(lambda: post(hostile.server, body))
    assert "href" in fault_of(answer)


def test_an_empty_body_is_a_fault(hostile):
    answer = hostile.send(lambda: post(hostile.server, b""))
    assert "empty" in fault_of(answer)


@pytest.mark.parametrize(
    "body",
    [
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>',
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>',
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>',
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
        "<faultcode>soap:Server</faultcode><faultstring>x</faultstring></soap:Fault></soap:Body></soap:Envelope>",
    ],
    ids=["empty Body", "no Body", "empty Envelope", "a Fault for a request"],
)
def test_an_envelope_without_an_operation_is_a_client_fault_saying_so(hostile, body):
    answer = hostile.send(lambda: post(hostile.server, body.encode()))
    assert "must hold the element of the operation called" in fault_of(answer)


def test_a_body_that_is_not_xml_is_a_fault(hostile):
    answer = hostile.send(
        lambda: post(hostile.server, f"password={DEMO_PASSWORD}&user={DEMO1_USER}".encode() + b"\x00\xff")
    )
    assert "well-formed" in fault_of(answer)


# -- size and HTTP -----------------------------------------------------------------------------------------


def test_a_body_over_the_limit_with_content_length_is_refused_with_413_unread(hostile):
    size = MAX_REQUEST_BYTES + 1024 * 1024
    parts = [b"<" * (1024 * 1024)] * (size // (1024 * 1024))
    headers = {"Content-Type": SOAP_CONTENT_TYPE, "Content-Length": str(size)}
    answer = hostile.send(lambda: raw_post(hostile.server, headers, parts))
    assert answer.status == 413
    assert answer.headers["content-type"].startswith("text/plain")


def test_a_chunked_body_over_the_limit_is_refused_with_413(hostile):
    parts = chunked([b"<" * (1024 * 1024)] * 12)
    headers = {"Content-Type": SOAP_CONTENT_TYPE, "Transfer-Encoding": "chunked"}
    answer = hostile.send(lambda: raw_post(hostile.server, headers, parts))
    assert answer.status == 413


def test_a_wrong_content_type_is_refused_with_415(hostile):
    answer = hostile.send(lambda: post(hostile.server, GOOD, content_type="application/json"))
    assert answer.status_code == 415
    assert answer.headers["Content-Type"].startswith("text/plain")


# -- SOAP --------------------------------------------------------------------------------------------------


def test_a_header_with_must_understand_that_the_service_does_not_understand_is_a_must_understand_fault(
    hostile,
):
    header = '<x:Transaction xmlns:x="urn:example:tx" soap:mustUnderstand="1">5</x:Transaction>'
    body = envelope(
        f"<s:GetLearnerAchievements>{USER}<s:uln>{TEST_LEARNER}</s:uln></s:GetLearnerAchievements>",
        header=header,
    )
    answer = hostile.send(lambda: post(hostile.server, body))
    fault_of(answer, faultcode="MustUnderstand")


def test_a_soap_12_envelope_is_a_version_mismatch_fault(hostile):
    body = envelope(
        f"<s:GetLearnerAchievements>{USER}<s:uln>{TEST_LEARNER}</s:uln></s:GetLearnerAchievements>", ns=SOAP12
    )
    answer = hostile.send(lambda: post(hostile.server, body))
    fault_of(answer, faultcode="VersionMismatch")
    as_soap12 = post(hostile.server, body, content_type="application/soap+xml; charset=utf-8")
    fault_of(as_soap12, faultcode="VersionMismatch")
