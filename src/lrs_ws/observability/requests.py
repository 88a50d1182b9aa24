"""One structured log line and one set of metrics for every HTTP request, whoever answered it.

`RequestObserver` is the outermost WSGI layer. It puts an `Observation` into the WSGI environ under
`OBSERVATION_KEY`; the input guard writes its refusal reason there, the SOAP layer the operation, the
caller and the ErrorCode. When the response is finished the observer writes the request's log line (JSON:
request id, operation, organisation, user, client certificate fingerprint, outcome, code, status,
duration) and counts it in the metrics.
The request id is also the `X-Request-Id` response header, the id quoted in internal-error faults and the
id stored with audit events. An exception that escapes the application becomes a SOAP Fault (or a plain
500) here, logged by type only, so neither a stack trace nor an HTML error page ever reaches a client.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lrs_ws.domain.error_codes import INTERNAL_ERROR
from lrs_ws.observability import metrics

log = logging.getLogger("lrs_ws.request")

OBSERVATION_KEY = "lrs_ws.observation"
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_PATH_LOG_LIMIT = 200
# After a request this large, hand freed heap memory back to the operating system (see _release_memory).
TRIM_AFTER_BYTES = 1024 * 1024

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class Observation:
    """What is known about one request; filled in by whichever layer learns it."""

    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    operation: str | None = None
    organisation: str | None = None
    user: str | None = None
    certificate: str | None = None
    code: str | None = None
    reason: str | None = None
    status: int | None = None
    request_bytes: int = 0


def observation_of(environ: dict[str, Any] | None) -> Observation | None:
    found = (environ or {}).get(OBSERVATION_KEY)
    return found if isinstance(found, Observation) else None


class RequestObserver:
    """WSGI middleware: request id, one log line, metrics, and a last line of defence against exceptions."""

    def __init__(self, app: WsgiApp, soap_path: str, fault_body: Callable[[str, str], bytes]) -> None:
        self.app = app
        self.soap_path = soap_path.rstrip("/")
        self.fault_body = fault_body

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        obs = Observation()
        environ[OBSERVATION_KEY] = obs
        started = time.perf_counter()

        def observed_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            obs.status = int(status.split(" ", 1)[0])
            return start_response(status, [*headers, ("X-Request-Id", obs.request_id)], exc_info)

        try:
            body = self.app(environ, observed_start_response)
        except Exception as exc:
            body = self._internal_error(environ, obs, observed_start_response, exc)
        return _ObservedBody(body, lambda: self._finish(environ, obs, started), lambda: self._release(obs))

    def _is_soap(self, environ: dict[str, Any]) -> bool:
        return (environ.get("PATH_INFO") or "/").rstrip("/").lower() == self.soap_path.lower()

    def _internal_error(
        self, environ: dict[str, Any], obs: Observation, start_response: StartResponse, exc: Exception
    ) -> list[bytes]:
        obs.code = INTERNAL_ERROR.code
        log.error("unhandled error", exc_info=exc, extra={"request_id": obs.request_id})
        if self._is_soap(environ):
            message = f"The service could not complete the request. Quote request id {obs.request_id}."
            payload = self.fault_body(INTERNAL_ERROR.code, message)
            content_type = "text/xml; charset=utf-8"
        else:
            payload = f"500 Internal Server Error (request id {obs.request_id})\n".encode()
            content_type = "text/plain; charset=utf-8"
        start_response(
            "500 Internal Server Error",
            [("Content-Type", content_type), ("Content-Length", str(len(payload)))],
            sys.exc_info(),
        )
        return [payload]

    def _labels(self, environ: dict[str, Any], obs: Observation) -> tuple[str, str]:
        path = environ.get("PATH_INFO") or "/"
        status = obs.status or 500
        if self._is_soap(environ):
            if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
                operation = "wsdl"
            else:
                operation = obs.operation or "unknown"
        elif path in _QUIET_PATHS:
            operation = path.lstrip("/")
        else:
            operation = "other"
        if obs.reason is not None or 400 <= status < 500:
            outcome = "refused"
        elif obs.code is not None or status >= 500:
            outcome = "fault"
        else:
            outcome = "ok"
        return operation, outcome

    @staticmethod
    def _release(obs: Observation) -> None:
        if obs.request_bytes >= TRIM_AFTER_BYTES:
            _release_memory()

    def _finish(self, environ: dict[str, Any], obs: Observation, started: float) -> None:
        duration = time.perf_counter() - started
        operation, outcome = self._labels(environ, obs)
        status = obs.status or 500
        code = obs.code or (f"HTTP{status}" if status >= 400 else None)
        try:
            metrics.observe_request(operation, outcome, code, duration, obs.reason)
        except Exception as exc:  # metrics must never fail a request
            log.warning("metrics not recorded", extra={"error": type(exc).__name__})
        path = environ.get("PATH_INFO") or "/"
        if path in _QUIET_PATHS and status < 400:
            return
        log.info(
            "request",
            extra={
                "request_id": obs.request_id,
                "method": str(environ.get("REQUEST_METHOD", ""))[:16],
                "path": None if self._is_soap(environ) else path[:_PATH_LOG_LIMIT],
                "operation": operation,
                "organisation": obs.organisation,
                "user": obs.user,
                "certificate": obs.certificate,
                "outcome": outcome,
                "code": code,
                "reason": obs.reason,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
            },
        )


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc: nothing to do


_malloc_trim = _load_malloc_trim()


def _release_memory() -> None:
    """Return the heap freed by a large request to the OS.

    Without this a worker that had parsed a 9 MiB body kept up to ~36 MiB more until the cyclic garbage
    collector happened to run, and glibc kept freed heap pages (a 10 MiB body of small elements left ~200
    MiB behind before the guard's element limit).
    """
    # spyne's per-request context sits in reference cycles that keep the body alive until the collector
    # runs: collect now, then trim.
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)


class _ObservedBody:
    """The response iterable.

    `on_done` (metrics, log line) runs once, just before the last chunk is handed to the server, so a client
    holding the whole answer already finds it counted by /metrics; `on_close` (memory release) runs when the
    server closes the response.
    """

    def __init__(
        self, body: Iterable[bytes], on_done: Callable[[], None], on_close: Callable[[], None]
    ) -> None:
        self.body = body
        self.on_done = on_done
        self.on_close = on_close
        self.done = False
        self.closed = False

    def _mark_done(self) -> None:
        if not self.done:
            self.done = True
            self.on_done()

    def __iter__(self) -> Iterator[bytes]:
        try:
            chunks = iter(self.body)
            pending = next(chunks, None)
            for chunk in chunks:
                yield pending  # type: ignore[misc]
                pending = chunk
        except Exception as exc:
            log.error("error while sending the response", extra={"error": type(exc).__name__})
            raise
        self._mark_done()
        if pending is not None:
            yield pending

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._mark_done()
            self.on_close()
