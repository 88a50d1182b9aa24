"""A WSGI guard in front of the SOAP endpoint: hostile input costs a bounded amount and gets a Fault.

Spyne reads and parses whatever arrives: it recurses forever on cyclic SOAP-encoding hrefs, lets empty
bodies and entity references escape as HTML 500s, truncates chunked bodies silently and spends ~28 s of CPU
on 100k attributes. The guard reads the body itself (bounded), checks it with a cheap byte scan and a
hardened parse, and only then hands spyne a fresh, fully read body together with the parsed tree (spyne
validates and reads that tree rather than parsing the body again). During planned maintenance it
answers every operation with WSEC0004 itself (lrs_ws.service.maintenance), before spyne sees the request.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from lrs_ws.config import Settings
from lrs_ws.domain.error_codes import code_for, error_code
from lrs_ws.domain.errors import SchemaInvalid, ServiceUnavailable, UnderMaintenance
from lrs_ws.observability.requests import observation_of
from lrs_ws.service.maintenance import MaintenanceStatus
from lrs_ws.soap.envelope import (
    ALLOWED_CHARSETS,
    PARSED_ENVELOPE,
    READ_CHUNK,
    EnvelopeInspector,
    RequestRefused,
)
from lrs_ws.soap.faults import fault_envelope

log = logging.getLogger("lrs_ws.guard")

SCHEMA_INVALID = code_for(SchemaInvalid)
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _PlainRefusal(Exception):
    """A refusal below SOAP (method, media type, length): a plain HTTP 4xx."""

    def __init__(
        self, status: HTTPStatus, reason: str, headers: tuple[tuple[str, str], ...] = (), consumed: int = 0
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers
        self.consumed = consumed  # body bytes read before refusing


def _media_type(environ: dict[str, Any]) -> tuple[str, str | None]:
    media, _, params = (environ.get("CONTENT_TYPE") or "").partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
    return media.strip().lower(), charset


def _is_chunked(environ: dict[str, Any]) -> bool:
    return "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower() or bool(
        environ.get("wsgi.input_terminated")
    )


class RequestGuard:
    """WSGI middleware guarding POSTs to `path` (and below it); everything else passes straight through."""

    def __init__(
        self,
        app: WsgiApp,
        settings: Settings,
        path: str = "/ExternalService.svc",
        maintenance: MaintenanceStatus | None = None,
    ) -> None:
        self.app = app
        self.maintenance = maintenance
        self.max_request_bytes = settings.max_request_bytes
        self.path = path.rstrip("/").lower()
        self.inspector = EnvelopeInspector(settings)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self._guards(environ.get("PATH_INFO") or "/") or environ.get("REQUEST_METHOD") == "GET":
            return self.app(environ, start_response)
        obs = observation_of(environ)
        try:
            body = self._read_body(environ)
            if obs is not None:
                obs.request_bytes = len(body)
            envelope = self.inspector.inspect(body)
        except _PlainRefusal as refusal:
            if obs is not None:
                obs.request_bytes = refusal.consumed
            _note_refusal(environ, refusal.reason, None, f"request refused ({refusal.status.value})")
            text = f"{refusal.status.value} {refusal.status.phrase}\n".encode()
            return _respond(
                start_response, refusal.status, "text/plain; charset=utf-8", text, refusal.headers
            )
        except RequestRefused as refusal:
            note = f"request refused (fault {refusal.faultcode})"
            _note_refusal(environ, refusal.reason, SCHEMA_INVALID, note)
            envelope = fault_envelope(SCHEMA_INVALID, refusal.message, refusal.faultcode)
            return _respond(start_response, HTTPStatus.INTERNAL_SERVER_ERROR, SOAP_CONTENT_TYPE, envelope)
        try:
            if self.maintenance is not None:
                self.maintenance.refuse_if_on()
        except UnderMaintenance as closed:
            code = error_code(closed)
            _note_refusal(environ, "maintenance", code, "request refused (maintenance)")
            envelope = fault_envelope(code, closed.message)
            return _respond(start_response, HTTPStatus.INTERNAL_SERVER_ERROR, SOAP_CONTENT_TYPE, envelope)
        except ServiceUnavailable:
            pass  # the database is down: the operation meets that itself and answers WSEC0004
        inner = dict(environ)
        inner.pop("HTTP_TRANSFER_ENCODING", None)
        inner["wsgi.input"] = io.BytesIO(body)
        inner["CONTENT_LENGTH"] = str(len(body))
        inner[PARSED_ENVELOPE] = envelope
        return self.app(inner, start_response)

    def _guards(self, path: str) -> bool:
        path = path.rstrip("/").lower()
        return path == self.path or path.startswith(self.path + "/")

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        method = environ.get("REQUEST_METHOD")
        if method != "POST":
            allow = (("Allow", "GET, POST"),)
            raise _PlainRefusal(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed", allow)
        media, charset = _media_type(environ)
        if media == "application/soap+xml":
            raise RequestRefused(
                "soap 1.2",
                "SOAP 1.2 is not supported; send a SOAP 1.1 envelope as text/xml.",
                "soap:VersionMismatch",
            )
        if media != "text/xml" or (charset is not None and charset not in ALLOWED_CHARSETS):
            raise _PlainRefusal(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "content type")
        stream = environ.get("wsgi.input") or io.BytesIO()
        raw_length = (environ.get("CONTENT_LENGTH") or "").strip()
        chunked = "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
        if raw_length and not chunked:
            if not raw_length.isdigit():
                raise _PlainRefusal(HTTPStatus.BAD_REQUEST, "bad content length")
            length = int(raw_length)
            if length > self.max_request_bytes:
                raise _PlainRefusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "content length over limit")
            body = _read_up_to(stream, length)
            if len(body) < length:
                raise _PlainRefusal(HTTPStatus.BAD_REQUEST, "body shorter than content length")
            return body
        if not _is_chunked(environ):
            raise _PlainRefusal(HTTPStatus.LENGTH_REQUIRED, "no length")
        body = _read_up_to(stream, self.max_request_bytes + 1)
        if len(body) > self.max_request_bytes:
            too_large = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            raise _PlainRefusal(too_large, "chunked body over limit", consumed=len(body))
        return body


def _note_refusal(environ: dict[str, Any], reason: str, code: str | None, message: str) -> None:
    """Hand the refusal to the request's Observation (one log line per request), or log it here."""
    obs = observation_of(environ)
    if obs is None:
        log.warning("%s: %s", message, reason)
        return
    obs.reason = reason
    if code is not None:
        obs.code = code


def _read_up_to(stream: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = stream.read(min(READ_CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _respond(
    start_response: StartResponse,
    status: HTTPStatus,
    content_type: str,
    body: bytes,
    headers: tuple[tuple[str, str], ...] = (),
) -> list[bytes]:
    start_response(
        f"{status.value} {status.phrase}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


SPYNE_REQUEST_LOGGERS = (
    # Write the whole raw request (passwords included) when it does not parse.
    "spyne.protocol.soap.soap11.invalid",
    "spyne.protocol.soap.soap12.invalid",
    "spyne.protocol.xml.invalid",
    # At DEBUG, dumps every incoming document and outgoing response.
    "spyne.protocol.xml",
)


def silence_spyne_request_logging() -> None:
    """Make sure spyne never logs raw request bodies, whatever the logging configuration says."""
    for name in SPYNE_REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False
        logger.disabled = True
