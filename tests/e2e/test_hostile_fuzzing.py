"""Property-based fuzzing of every SOAP operation against a live gunicorn server of its own.

Envelopes are generated from the service's own type information (so every operation, present and future, is
covered): valid structure with hostile values (huge and negative numbers, wrong types, control characters,
unicode, SQL-like strings, very long text), structurally broken envelopes, and random bytes. Every answer
must be a well-formed SOAP response or a SOAP Fault with a DomainFault code other than the internal-error
one; nothing leaks; no worker crashes (the same worker processes serve from first example to last).

About 1,500 examples in all (both backends together).
"""

from __future__ import annotations

from collections import Counter
from xml.sax.saxutils import escape

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from spyne.model.complex import Array, ComplexModelBase
from spyne.model.primitive import Boolean, Date, DateTime, Integer
from support.databases import DEMO, build_database, remove_database
from support.demo import AMIRA, DEMO1_USER, DEMO2_USER, JAMES, LRS_ORG, ORG1, ORG2, SUPPORT_USER, TEST_LEARNER
from support.hardening import LogCursor, assert_no_leak, json_lines, worker_pids
from support.server import LiveServer
from support.soap import DEMO_PASSWORD, FAULTS_NS, SOAP_ENV_NS

from lrs_ws.app import soap_services
from lrs_ws.soap.namespaces import SERVICES_NS

XSI = "http://www.w3.org/2001/XMLSchema-instance"
INTERNAL_ERROR = "WSEC0199"
ANSWERS: Counter[str] = Counter()  # what the examples got, printed at the end (pytest -s)
FUZZ = settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

OPERATIONS = {
    name: descriptor.in_message
    for service in soap_services()
    for name, descriptor in service.public_methods.items()
}

SQLISH = [
    "' OR '1'='1",
    "1; DROP TABLE achievements; --",
    '" OR ""="',
    "%' --",
    "1 UNION SELECT password FROM users",
    "'; UPDATE achievements SET grade='A' --",
    "$(reboot)",
    "{{7*7}}",
    "../../etc/passwd",
    "NULL",
    "\\x00",
]
PLAUSIBLE = [
    TEST_LEARNER,
    JAMES,
    AMIRA,
    "0000000000",
    ORG1,
    LRS_ORG,
    "EDC0000001",
    "EDC9999999999",
    "Final",
    "Provisional",
    "final",
    "New",
    "InProgress",
    "Complete",
    "Accepted",
    "Rejected",
    "Accept",
    "Reject",
    "AwardDate",
    "Grade",
    "ReferenceNumber",
    "J/602/3521",
    "600/1166/X",
    "Merit",
    "GradeIncorrect",
    "EditGrade",
    "TransferToLearner",
    "Delete",
    "Withdraw",
    "demo1.edc@example.com",
    "not-an-email",
]
plausible_text = st.sampled_from(PLAUSIBLE)
hostile_text = st.one_of(
    plausible_text,  # often something the service accepts, so that the example gets past the schema
    plausible_text,
    st.text(max_size=40),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=20),
    st.sampled_from(SQLISH + PLAUSIBLE + ["", " ", "\u202e\u0000", "]]>", "&amp;", "\U0001f600" * 30]),
    st.integers(0, 30_000).map(lambda n: "X" * n),
)
hostile_int = st.one_of(
    st.integers(-3, 12),
    st.integers(-3, 12),
    st.integers(-(10**40), 10**40),
    st.sampled_from([0, -1, 1, 2, 3, 2**31 - 1, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**18]),
    st.sampled_from(["1.5", "1e9", "0x10", " 7 ", "+3", "\u0663", "", "seven", "-0", "00042"]),
    st.text(max_size=12),
)
hostile_bool = st.one_of(
    st.sampled_from(["true", "false", "1", "0"]),
    st.sampled_from(["TRUE", "yes", "", "-1"]),
    st.text(max_size=6),
)
hostile_datetime = st.one_of(
    st.datetimes().map(lambda d: d.isoformat(timespec="seconds")),
    st.sampled_from(
        [
            "2015-06-01T00:00:00",
            "2099-01-01T00:00:00",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59",
            "2015-02-30T00:00:00",
            "2015-06-01",
            "yesterday",
            "",
            "2015-06-01T25:61:61Z",
        ]
    ),
    st.text(max_size=25),
)
valid_credentials = st.sampled_from(
    [
        (DEMO1_USER, DEMO_PASSWORD, ORG1),
        (DEMO2_USER, DEMO_PASSWORD, ORG2),
        (SUPPORT_USER, DEMO_PASSWORD, LRS_ORG),
    ]
)
credentials = st.one_of(valid_credentials, st.tuples(hostile_text, hostile_text, hostile_text))


def element(ns: str, name: str, content: str) -> str:
    return f'<x:{name} xmlns:x="{ns}">{content}</x:{name}>'


@st.composite
def value_of(draw: st.DrawFn, typ: type, hostile: bool = True) -> str:
    """The XML content of one element of spyne type `typ`: hostile, or else plausible."""
    if issubclass(typ, Array):
        [(item_name, item_type)] = list(typ._type_info.items())
        items = draw(st.lists(value_of(item_type, hostile), max_size=3))
        return "".join(element(typ.get_namespace() or SERVICES_NS, item_name, item) for item in items)
    if issubclass(typ, ComplexModelBase):
        ns = typ.get_namespace()
        return "".join(
            element(ns, name, draw(value_of(sub, hostile and draw(st.booleans()))))
            for name, sub in typ._type_info.items()
            if not hostile or draw(st.integers(0, 9)) > 0  # now and then a field is left out
        )
    if issubclass(typ, Boolean):
        raw = draw(hostile_bool if hostile else st.sampled_from(["true", "false"]))
    elif issubclass(typ, Integer):
        raw = str(draw(hostile_int if hostile else st.integers(1, 12)))
    elif issubclass(typ, (DateTime, Date)):
        raw = draw(hostile_datetime if hostile else st.sampled_from(["2015-06-01T00:00:00"]))
    else:
        raw = draw(hostile_text if hostile else plausible_text)
    return escape(raw)


@st.composite
def envelopes(draw: st.DrawFn) -> tuple[str, bytes]:
    """(operation, envelope) with the operation's parameters in order.

    Either every parameter is hostile, or one is and the others are plausible (so that the hostile value
    gets past the schema and into the use case more often).
    """
    operation = draw(st.sampled_from(sorted(OPERATIONS)))
    message = OPERATIONS[operation]
    names = [n for n in message._type_info if n != "invokingUser"]
    all_hostile = draw(st.integers(0, 2)) == 0
    target = draw(st.sampled_from(names)) if names else None
    parts = []
    for name, typ in message._type_info.items():
        hostile = all_hostile or name == target
        if name == "invokingUser":
            username, password, org = draw(credentials if all_hostile else valid_credentials)
            content = (
                element(typ.get_namespace(), "OrgPassword", escape(password))
                + element(typ.get_namespace(), "OrganisationRef", escape(org))
                + element(typ.get_namespace(), "UserName", escape(username))
            )
        elif hostile and draw(st.integers(0, 9)) == 0:
            continue
        elif hostile and draw(st.integers(0, 19)) == 0:
            parts.append(f'<x:{name} xmlns:x="{SERVICES_NS}" xmlns:xsi="{XSI}" xsi:nil="true"/>')
            continue
        else:
            content = draw(value_of(typ, hostile))
        parts.append(element(SERVICES_NS, name, content))
    body = element(SERVICES_NS, operation, "".join(parts))
    envelope = f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body>{body}</soap:Body></soap:Envelope>'
    return operation, envelope.encode("utf-8")


@st.composite
def broken_envelopes(draw: st.DrawFn) -> bytes:
    """A generated envelope, then damaged: cut, spliced, shuffled, or with junk inserted."""
    _, data = draw(envelopes())
    cut = draw(st.integers(0, len(data)))
    damage = draw(st.sampled_from(["truncate", "delete", "insert", "duplicate", "flip", "swap-tags"]))
    if damage == "truncate":
        return data[:cut]
    if damage == "delete":
        return data[:cut] + data[cut + draw(st.integers(1, 200)) :]
    if damage == "insert":
        junk = draw(
            st.sampled_from(
                [
                    b"<",
                    b">",
                    b"</x>",
                    b"<soap:Body>",
                    b"&",
                    b"&#0;",
                    b"\x00",
                    b"\xff\xfe",
                    b"<?pi?>",
                    b"<![CDATA[",
                    b"]]>",
                    b"<!-- ",
                    b"\"'",
                ]
            )
        )
        return data[:cut] + junk + data[cut:]
    if damage == "duplicate":
        return data[:cut] + data[cut // 2 : cut] + data[cut:]
    if damage == "flip":
        flipped = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            flipped[draw(st.integers(0, len(flipped) - 1))] = draw(st.integers(0, 255))
        return bytes(flipped)
    return data.replace(b"soap:Body", b"soap:Header", 1).replace(b"x:", b"y:", draw(st.integers(1, 3)))


@pytest.fixture(scope="module")
def fuzz_server(backend, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"fuzz-{backend}")
    url = build_database(backend, directory, DEMO)
    server = LiveServer(url, directory / "server.log").start()
    server.pids = worker_pids(server)  # type: ignore[attr-defined]
    server.log_cursor = LogCursor(server)  # type: ignore[attr-defined]  # what the fuzzing makes it log
    yield server
    print(f"\nfuzzing answers ({backend}): {dict(ANSWERS.most_common())}")
    ANSWERS.clear()
    try:
        server.stop()
    finally:
        remove_database(backend, url)


def check(server: LiveServer, body: bytes) -> str:
    """Post `body`; assert the answer is a well-formed response or SOAP Fault; return the ErrorCode or ''."""
    answer = requests.post(
        server.soap_url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=60
    )
    assert answer.status_code in (200, 500), (answer.status_code, answer.content[:300])
    assert answer.headers["Content-Type"].startswith("text/xml"), answer.headers["Content-Type"]
    doc = etree.fromstring(answer.content)
    assert doc.tag == f"{{{SOAP_ENV_NS}}}Envelope"
    fault = doc.find(f"{{{SOAP_ENV_NS}}}Body/{{{SOAP_ENV_NS}}}Fault")
    code = ""
    if answer.status_code == 500:
        assert fault is not None, answer.content[:300]
        code = fault.findtext(f".//{{{FAULTS_NS}}}ErrorCode") or ""
        assert code, answer.content[:500]
        assert code != INTERNAL_ERROR, answer.content[:500]
    else:
        assert fault is None
    assert_no_leak(answer.content.decode("utf-8", "replace"), (DEMO_PASSWORD,), "the response")
    assert worker_pids(server) == server.pids, "a worker was replaced"  # type: ignore[attr-defined]
    ANSWERS[code or "ok"] += 1
    return code


@settings(FUZZ, max_examples=400)
@given(case=envelopes())
def test_valid_envelopes_with_hostile_values_get_a_response_or_a_domain_fault(fuzz_server, case):
    _, body = case
    check(fuzz_server, body)


@settings(FUZZ, max_examples=250)
@given(body=broken_envelopes())
def test_broken_envelopes_get_a_soap_fault(fuzz_server, body):
    check(fuzz_server, body)


@settings(FUZZ, max_examples=100)
@given(body=st.binary(max_size=3000))
def test_random_bytes_get_a_soap_fault(fuzz_server, body):
    assert check(fuzz_server, body) != ""  # never a normal response


def test_the_fuzzed_server_logged_only_json_lines_never_a_password_and_kept_its_workers(fuzz_server):
    """Reads the log from the server's start: after the examples above (this module's order) and one more
    request here, carrying a real password and cut off mid-element."""
    body = (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><x:GetAchievement xmlns:x="{SERVICES_NS}">'
        f"<x:invokingUser><x:OrgPassword>{DEMO_PASSWORD}</x:OrgPass"
    )
    answer = requests.post(
        fuzz_server.soap_url,
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=60,
    )
    assert answer.status_code == 500, answer.content[:300]
    log = fuzz_server.log_cursor
    log.request_line(answer.headers["X-Request-Id"])  # written just after the answer went out
    assert_no_leak(log.seen, (DEMO_PASSWORD,), "the server log")
    json_lines(log.seen)
    assert worker_pids(fuzz_server) == fuzz_server.pids
