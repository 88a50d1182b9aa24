"""Prometheus metrics: what each request did, and the exposition endpoint `/metrics`.

Under gunicorn every worker is a separate process, so counters live in prometheus-client's multiprocess
mode: each worker writes its samples to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and whichever
worker answers a scrape merges all of them. `lrs_ws.gunicorn_conf` creates that directory (a fresh
temporary one unless the operator names one), empties it at start and marks dead workers, so a scrape sees
the whole server whichever worker answers. Without the variable (one process: tests, `wsgiref`) the
metrics are kept in memory.

The variable must be set before `prometheus_client` is first imported in the process: the value class is
chosen at import time. The files' blocks are allocated before they are mapped (`PreallocatedMmapedDict`), so
a full file system costs a few uncounted samples, never the process.

Gauges that describe the database (batch queue, outbox) are not counted here; they
are read from the database at scrape time by a collector the app registers (`lrs_ws.db.monitoring`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.registry import Collector

from lrs_ws.observability.logs import Throttle

log = logging.getLogger("lrs_ws.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus-client's first size for a metrics file (mmap_dict._INITIAL_MMAP_SIZE); it doubles from there.
_INITIAL_FILE_BYTES = 1 << 16
_not_counted = Throttle(60.0)


def _entry_bytes(key: str) -> int:
    """Bytes one sample takes in a metrics file (MmapedDict._init_value's layout)."""
    encoded = len(key.encode("utf-8"))
    return 4 + encoded + (8 - (encoded + 4) % 8) + 16


class PreallocatedMmapedDict(MmapedDict):
    """A multiprocess metrics file whose blocks are allocated before they are memory-mapped.

    prometheus-client sizes its files with ftruncate, which leaves holes: on a full file system the first
    store into a page of a hole kills the process with SIGBUS. posix_fallocate instead fails with an
    OSError (ENOSPC) when the file is created or grown, which `observe_request` turns into a sample not
    counted.
    """

    def __init__(self, filename: str, read_mode: bool = False) -> None:
        if not read_mode:
            with open(filename, "a+b") as fh:
                size = os.fstat(fh.fileno()).st_size
                try:
                    os.posix_fallocate(fh.fileno(), 0, max(size, _INITIAL_FILE_BYTES))
                except OSError:
                    if size == 0:
                        os.unlink(filename)  # a scrape cannot read an empty file
                    raise
        super().__init__(filename, read_mode)  # type: ignore[no-untyped-call]  # untyped in prometheus-client

    def _init_value(self, key: str) -> None:
        capacity = self._capacity
        while self._used + _entry_bytes(key) > capacity:
            capacity *= 2
        if capacity > self._capacity:
            os.posix_fallocate(self._f.fileno(), 0, capacity)
        super()._init_value(key)  # type: ignore[no-untyped-call]


# The multiprocess value class opens its files through this module attribute, at the time it first needs one.
prometheus_values.MmapedDict = PreallocatedMmapedDict  # type: ignore[attr-defined]

# Label values come from closed sets only (operation names of the service, ErrorCodes, guard reasons),
# never from raw request data, so a hostile client cannot blow up the number of series.
REQUESTS = Counter(
    "lrs_ws_requests",
    "HTTP requests handled, by SOAP operation (or endpoint) and outcome (ok, fault, refused).",
    ["operation", "outcome"],
    registry=None,
)
FAULTS = Counter(
    "lrs_ws_faults",
    "SOAP faults and plain refusals answered, by SOAP operation and ErrorCode (or HTTP status).",
    ["operation", "code"],
    registry=None,
)
GUARD_REFUSALS = Counter(
    "lrs_ws_guard_refusals",
    "Requests refused by the input guard before the SOAP stack saw them, by reason.",
    ["reason"],
    registry=None,
)
LOGIN_FAILURE_ALERTS = Counter(
    "lrs_ws_login_failure_alerts",
    "Failed logins of a user name already at or over LRS_WS_LOGIN_FAILURE_ALERT failures (from every source) "
    "within the throttling window: someone may be guessing its password from many addresses.",
    # Labelled like every metric here: an unlabelled one opens its file when this module is imported, and on a
    # full disk that would be a worker that cannot boot. A labelled one opens it when first counted.
    ["kind"],
    registry=None,
)
LATENCY = Histogram(
    "lrs_ws_request_duration_seconds",
    "Time from receiving a request to finishing its response, by SOAP operation (or endpoint).",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=None,
)


def observe_request(
    operation: str, outcome: str, code: str | None, duration: float, reason: str | None
) -> None:
    """Count one finished request (not at all when the metrics files cannot be written: a full disk)."""
    try:
        REQUESTS.labels(operation, outcome).inc()
        if code is not None:
            FAULTS.labels(operation, code).inc()
        if reason is not None:
            GUARD_REFUSALS.labels(reason).inc()
        LATENCY.labels(operation).observe(duration)
    except OSError as exc:
        if _not_counted.due() is not None:
            log.warning(
                "request not counted: the metrics directory cannot be written",
                extra={"error": f"{type(exc).__name__}: {exc.strerror}"},
            )


def multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


def build_registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """The registry one scrape reads: every worker's samples (or this process's) plus `extra` collectors."""
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path is not None:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    else:
        for own in (REQUESTS, FAULTS, GUARD_REFUSALS, LOGIN_FAILURE_ALERTS, LATENCY):
            registry.register(own)
    for collector in extra:
        registry.register(collector)
    return registry


class MetricsEndpoint:
    """WSGI app for GET /metrics in the Prometheus text format."""

    def __init__(self, extra_collectors: Callable[[], Iterable[Collector]] = tuple) -> None:
        self.extra_collectors = extra_collectors

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            body = b"405 Method Not Allowed\n"
            start_response(
                "405 Method Not Allowed",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("Allow", "GET"),
                ],
            )
            return [body]
        payload = generate_latest(build_registry(self.extra_collectors()))
        headers = [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(payload)))]
        start_response("200 OK", headers)
        return [payload] if environ.get("REQUEST_METHOD") == "GET" else []
