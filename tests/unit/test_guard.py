"""RequestGuard: hostile SOAP input is refused cheaply, with a Fault or a plain 4xx, before spyne sees it."""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from lxml import etree

from lrs_ws.config import Settings
from lrs_ws.soap.guard import RequestGuard, silence_spyne_request_logging

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
FAULTS = "http://api.lrs.qcf.gov.uk/faults"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSA = "http://www.w3.org/2005/08/addressing"
SERVICES = "http://api.lrs.qcf.gov.uk/services"


def envelope(body: str = "<s:Ping/>", header: str = "", ns: str = SOAP11) -> bytes:
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{ns}" xmlns:s="{SERVICES}">{head}<soap:Body>{body}</soap:Body>'
        f"</soap:Envelope>"
    ).encode()


@dataclass
class Inner:
    """Stands in for spyne: records the call and echoes the length of the body it was given."""

    called: bool = False
    body: bytes = b""
    environ: dict[str, Any] = field(default_factory=dict)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.called = True
        self.environ = environ
        self.body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(self.body)).encode()]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers["Content-Type"]


class UnreadableInput:
    """A body the guard must not touch."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


class EndlessInput:
    """A chunked body that never ends; counts what was read from it."""

    def __init__(self) -> None:
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "an unbounded read of an endless body"
        self.bytes_read += size
        return b"<" * size


def call(
    guard: RequestGuard,
    body: bytes = b"",
    *,
    method: str = "POST",
    path: str = "/ExternalService.svc",
    query: str = "",
    content_type: str | None = "text/xml; charset=utf-8",
    content_length: str | None = "auto",
    chunked: bool = False,
    stream: Any = None,
) -> Response:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
        "wsgi.url_scheme": "http",
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    elif content_length == "auto":
        environ["CONTENT_LENGTH"] = str(len(body))
    elif content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(headers)

    out = b"".join(guard(environ, start_response))
    return Response(seen["status"], seen["headers"], out)


@dataclass
class Fault:
    faultcode: str
    error_code: str
    message: str


def fault_of(response: Response) -> Fault:
    assert response.status == 500
    assert response.content_type == "text/xml; charset=utf-8"
    root = etree.fromstring(response.body)
    assert root.tag == f"{{{SOAP11}}}Envelope"
    fault = root.find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert fault is not None
    detail = fault.find(f"detail/{{{FAULTS}}}DomainFault")
    assert detail is not None
    message = base64.b64decode(detail.findtext(f"{{{FAULTS}}}ErrorDetail") or "").decode()
    return Fault(fault.findtext("faultcode") or "", detail.findtext(f"{{{FAULTS}}}ErrorCode") or "", message)


def assert_no_echo(response: Response, *secrets: str) -> None:
    for secret in ("passwd", "root:", *secrets):
        assert secret.encode() not in response.body


@contextmanager
def cpu(label: str) -> Iterator[None]:
    start = time.process_time()
    yield
    print(f"\n[cpu] {label}: {(time.process_time() - start) * 1000:.1f} ms")


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def inner() -> Inner:
    return Inner()


@pytest.fixture
def guard(inner: Inner, settings: Settings) -> RequestGuard:
    return RequestGuard(inner, settings)


# --- what passes through -------------------------------------------------------------------------------


def test_a_valid_small_envelope_reaches_the_service_with_the_same_bytes(guard, inner):
    body = envelope()
    response = call(guard, body)
    assert response.status == 200
    assert inner.called
    assert inner.body == body
    assert inner.environ["CONTENT_LENGTH"] == str(len(body))
    assert response.body == str(len(body)).encode()


def test_a_chunked_envelope_reaches_the_service_whole_with_a_content_length(guard, inner):
    body = envelope("<s:Ping>" + "x" * 200_000 + "</s:Ping>")
    response = call(guard, body, chunked=True)
    assert response.status == 200
    assert inner.body == body
    assert inner.environ["CONTENT_LENGTH"] == str(len(body))
    assert "HTTP_TRANSFER_ENCODING" not in inner.environ


def test_very_long_text_within_the_size_limit_passes_through(guard, inner):
    body = envelope("<s:Ping>" + "A" * 5_000_000 + "</s:Ping>")
    with cpu("5 MB text, accepted"):
        response = call(guard, body)
    assert response.status == 200
    assert inner.body == body


def test_a_get_for_the_wsdl_passes_through_untouched(guard, inner):
    response = call(guard, method="GET", query="wsdl", content_type=None, content_length=None)
    assert response.status == 200
    assert inner.called
    assert inner.environ["QUERY_STRING"] == "wsdl"


def test_other_paths_pass_through_untouched(guard, inner):
    response = call(guard, b"not xml", path="/healthz", content_type="application/json")
    assert response.status == 200
    assert inner.called
    assert inner.body == b"not xml"


def test_a_utf16_envelope_passes_through(guard, inner):
    body = envelope().decode().replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    response = call(guard, body, content_type="text/xml; charset=utf-16")
    assert response.status == 200
    assert inner.body == body


def test_nesting_exactly_at_the_depth_limit_passes(guard, inner, settings):
    depth = settings.max_xml_depth - 2  # Envelope and Body count
    body = envelope("<s:n>" * depth + "</s:n>" * depth)
    assert call(guard, body).status == 200
    assert inner.called


def test_an_understood_wsse_security_header_with_must_understand_passes(guard, inner):
    header = (
        f'<wsse:Security xmlns:wsse="{WSSE}" soap:mustUnderstand="1"><wsse:UsernameToken>'
        "<wsse:Username>ao-user</wsse:Username><wsse:Password>secret</wsse:Password>"
        "</wsse:UsernameToken></wsse:Security>"
    )
    response = call(guard, envelope(header=header))
    assert response.status == 200
    assert inner.called


def test_a_ws_addressing_header_with_must_understand_passes(guard, inner):
    header = f'<wsa:Action xmlns:wsa="{WSA}" soap:mustUnderstand="true">urn:x</wsa:Action>'
    assert call(guard, envelope(header=header)).status == 200
    assert inner.called


def test_an_unknown_header_addressed_to_another_actor_is_ignored(guard, inner):
    header = '<x:Trace xmlns:x="urn:x" soap:mustUnderstand="1" soap:actor="urn:somebody-else"/>'
    assert call(guard, envelope(header=header)).status == 200
    assert inner.called


# --- HTTP-level refusals -------------------------------------------------------------------------------


def test_a_body_declared_over_the_size_limit_is_refused_without_being_read(guard, inner, settings):
    with cpu("Content-Length over limit"):
        response = call(guard, content_length=str(settings.max_request_bytes + 1), stream=UnreadableInput())
    assert response.status == 413
    assert response.content_type.startswith("text/plain")
    assert not inner.called


def test_a_chunked_body_over_the_size_limit_is_refused_after_reading_one_byte_more(guard, inner, settings):
    stream = EndlessInput()
    with cpu("endless chunked body"):
        response = call(guard, chunked=True, stream=stream)
    assert response.status == 413
    assert stream.bytes_read == settings.max_request_bytes + 1
    assert not inner.called


def test_a_post_with_neither_length_nor_chunked_encoding_is_refused_with_411(guard, inner):
    response = call(guard, envelope(), content_length=None)
    assert response.status == 411
    assert not inner.called


def test_a_body_shorter_than_its_content_length_is_refused_with_400(guard, inner):
    response = call(guard, envelope(), content_length="100000")
    assert response.status == 400
    assert not inner.called


def test_a_garbage_content_length_is_refused_with_400(guard, inner):
    assert call(guard, envelope(), content_length="-5").status == 400
    assert not inner.called


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None, "text/xml; charset=koi8-r"])
def test_a_content_type_other_than_text_xml_is_refused_with_415(guard, inner, content_type):
    response = call(guard, envelope(), content_type=content_type)
    assert response.status == 415
    assert not inner.called


@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD", "OPTIONS"])
def test_methods_other_than_get_and_post_are_refused_with_405(guard, inner, method):
    response = call(guard, envelope(), method=method)
    assert response.status == 405
    assert "POST" in response.headers["Allow"]
    assert not inner.called


# --- SOAP faults ---------------------------------------------------------------------------------------


def test_a_doctype_with_an_external_entity_is_refused_before_parsing(guard, inner):
    body = (
        b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + envelope("<s:Ping>&xxe;</s:Ping>").split(b"?>", 1)[1]
    )
    with cpu("XXE /etc/passwd"):
        response = call(guard, body)
    fault = fault_of(response)
    assert (fault.faultcode, fault.error_code) == ("soap:Client", "WSEC0001")
    assert "DOCTYPE" in fault.message
    assert_no_echo(response, "xxe", "file://")
    assert not inner.called


def test_billion_laughs_is_refused_before_any_entity_is_expanded(guard, inner):
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    ]
    body = (
        b'<?xml version="1.0"?><!DOCTYPE lolz ['
        + "".join(entities).encode()
        + b"]>"
        + envelope("<s:Ping>&lol9;</s:Ping>").split(b"?>", 1)[1]
    )
    with cpu("billion laughs"):
        response = call(guard, body)
    assert fault_of(response).error_code == "WSEC0001"
    assert_no_echo(response, "lol")
    assert not inner.called


def test_a_quadratic_blowup_is_refused_before_any_entity_is_expanded(guard, inner):
    big = "B" * 100_000
    body = (
        f'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "{big}">]>'.encode()
        + envelope("<s:Ping>" + "&a;" * 50_000 + "</s:Ping>").split(b"?>", 1)[1]
    )
    with cpu("quadratic blowup"):
        response = call(guard, body)
    assert fault_of(response).error_code == "WSEC0001"
    assert_no_echo(response, "BBBB")
    assert not inner.called


def test_a_doctype_in_a_utf16_body_is_refused(guard, inner):
    body = (
        '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + envelope("<s:Ping>&xxe;</s:Ping>").decode().split("?>", 1)[1]
    ).encode("utf-16")
    response = call(guard, body)
    assert "DOCTYPE" in fault_of(response).message
    assert not inner.called


def test_an_encoding_other_than_utf8_or_utf16_is_refused(guard, inner):
    body = envelope().replace(b"utf-8", b"utf-7")
    assert fault_of(call(guard, body)).error_code == "WSEC0001"
    assert not inner.called


def test_deep_nesting_is_refused(guard, inner):
    body = envelope("<s:n>" * 100_000 + "</s:n>" * 100_000)
    with cpu("100k nested elements"):
        response = call(guard, body)
    fault = fault_of(response)
    assert fault.error_code == "WSEC0001"
    assert "nested too deeply" in fault.message
    assert not inner.called


def test_one_element_too_deep_is_refused(guard, inner, settings):
    depth = settings.max_xml_depth - 1
    assert "nested too deeply" in fault_of(call(guard, envelope("<s:n>" * depth + "</s:n>" * depth))).message
    assert not inner.called


def test_each_refusal_of_the_tree_checks_names_its_own_reason_and_the_parser_reused_after_it_still_accepts(
    guard, inner, settings
):
    depth = settings.max_xml_depth + 1
    hostile = {
        "Processing instructions are not allowed": envelope("<s:Ping><?pi data?></s:Ping>"),
        "nested too deeply": envelope("<s:n>" * depth + "</s:n>" * depth),
        "element name is longer": envelope(f"<s:{'n' * (settings.max_xml_name_length + 1)}/>"),
        "is not well-formed XML": envelope("<s:Ping>"),
    }
    for says, body in hostile.items():
        response = call(guard, body)
        assert response.status == 500 and says in fault_of(response).message, says
        assert not inner.called
        assert call(guard, envelope()).status == 200, f"a good request after a refused one ({says})"
        assert inner.called
        inner.called = False


def test_an_attribute_flood_is_refused_cheaply(guard, inner):
    attributes = " ".join(f'a{i}="{i}"' for i in range(100_000))
    with cpu("100k attributes"):
        response = call(guard, envelope(f"<s:Ping {attributes}/>"))
    assert "attributes" in fault_of(response).message
    assert_no_echo(response, "a99999")
    assert not inner.called


def test_an_attribute_flood_with_markup_characters_in_its_values_is_refused(guard, inner):
    attributes = " ".join(f'a{i}=">"' for i in range(100_000))
    with cpu("100k attributes with '>' in values"):
        response = call(guard, envelope(f"<s:Ping {attributes}/>"))
    assert "attributes" in fault_of(response).message
    assert not inner.called


def test_a_namespace_declaration_flood_is_refused(guard, inner):
    declarations = " ".join(f'xmlns:p{i}="urn:{i}"' for i in range(100_000))
    with cpu("100k namespace declarations"):
        response = call(guard, envelope(f"<s:Ping {declarations}/>"))
    assert "attributes" in fault_of(response).message
    assert not inner.called


@pytest.mark.parametrize("length", [10_000, 100_000])
def test_a_very_long_element_name_is_refused(guard, inner, length):
    name = "n" * length
    with cpu(f"{length}-character element name"):
        response = call(guard, envelope(f"<s:{name}/>"))
    assert "name" in fault_of(response).message
    assert_no_echo(response, "nnnnnnnn")
    assert not inner.called


def test_a_very_long_attribute_name_is_refused(guard, inner):
    name = "a" * 10_000
    with cpu("10k-character attribute name"):
        response = call(guard, envelope(f'<s:Ping {name}="1"/>'))
    assert "name" in fault_of(response).message
    assert not inner.called


def test_a_cyclic_soap_encoding_href_is_refused(guard, inner):
    body = envelope(
        '<s:Ping><s:a id="r1"><s:b href="#r2"/></s:a><s:c id="r2"><s:d href="#r1"/></s:c></s:Ping>'
    )
    with cpu("cyclic href"):
        response = call(guard, body)
    assert "href" in fault_of(response).message
    assert not inner.called


def test_an_empty_body_is_refused_with_a_fault(guard, inner):
    fault = fault_of(call(guard, b""))
    assert fault.error_code == "WSEC0001"
    assert "empty" in fault.message
    assert not inner.called


def test_a_body_that_is_not_xml_is_refused_without_echoing_it(guard, inner):
    with cpu("not XML"):
        response = call(guard, b"root:x:0:0:root:/root:/bin/bash passwd")
    assert "not well-formed" in fault_of(response).message
    assert_no_echo(response)
    assert not inner.called


def test_a_malformed_envelope_is_refused_without_echoing_names_or_text(guard, inner):
    body = envelope("<s:Password>hunter2</s:Pass>")
    response = call(guard, body)
    assert "not well-formed" in fault_of(response).message
    assert_no_echo(response, "hunter2", "Pass")
    assert not inner.called


def test_an_undefined_entity_reference_is_refused(guard, inner):
    assert "not well-formed" in fault_of(call(guard, envelope("<s:Ping>&passwd;</s:Ping>"))).message
    assert not inner.called


def test_a_root_other_than_a_soap11_envelope_is_refused(guard, inner):
    fault = fault_of(call(guard, b"<Envelope><Body/></Envelope>"))
    assert (fault.faultcode, fault.error_code) == ("soap:Client", "WSEC0001")
    assert not inner.called


def test_a_processing_instruction_is_refused(guard, inner):
    body = envelope().replace(b"?>", b'?><?xml-stylesheet href="x.xsl"?>', 1)
    assert "Processing instructions" in fault_of(call(guard, body)).message
    assert not inner.called


def test_an_unknown_header_with_must_understand_gets_a_must_understand_fault(guard, inner):
    header = '<x:Transaction xmlns:x="urn:x" soap:mustUnderstand="1">5</x:Transaction>'
    fault = fault_of(call(guard, envelope(header=header)))
    assert (fault.faultcode, fault.error_code) == ("soap:MustUnderstand", "WSEC0001")
    assert not inner.called


def test_a_soap12_envelope_gets_a_version_mismatch_fault(guard, inner):
    fault = fault_of(call(guard, envelope(ns=SOAP12)))
    assert (fault.faultcode, fault.error_code) == ("soap:VersionMismatch", "WSEC0001")
    assert not inner.called


def test_a_soap12_content_type_gets_a_version_mismatch_fault(guard, inner):
    response = call(guard, envelope(ns=SOAP12), content_type="application/soap+xml; charset=utf-8")
    fault = fault_of(response)
    assert (fault.faultcode, fault.error_code) == ("soap:VersionMismatch", "WSEC0001")
    assert not inner.called


def test_a_path_below_the_endpoint_is_guarded_too(guard, inner):
    assert fault_of(call(guard, b"", path="/ExternalService.svc/")).error_code == "WSEC0001"
    assert not inner.called


# --- logging -------------------------------------------------------------------------------------------


def test_each_refusal_logs_one_warning_without_the_body(guard, caplog):
    with caplog.at_level(logging.WARNING, logger="lrs_ws.guard"):
        call(guard, envelope("<s:Password>hunter2</s:Pass>"))
    records = [r for r in caplog.records if r.name == "lrs_ws.guard"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "hunter2" not in records[0].getMessage()


def test_spyne_never_logs_raw_requests_once_silenced(caplog):
    silence_spyne_request_logging()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("spyne.protocol.soap.soap11.invalid").error("%r", "<Password>hunter2</Password>")
        logging.getLogger("spyne.protocol.xml").debug("<Password>hunter2</Password>")
    assert "hunter2" not in caplog.text
    assert logging.getLogger("spyne.protocol.xml").level != logging.DEBUG
