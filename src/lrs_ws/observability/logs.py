"""Structured logging: one JSON object a line, with the request's id, operation, organisation and outcome."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError

from lrs_ws.config import Settings

_EXTRA_FIELDS = (
    "request_id",
    "method",
    "path",
    "operation",
    "organisation",
    "user",
    "outcome",
    "code",
    "reason",
    "status",
    "duration_ms",
    "job_id",
    "detail",
    "error",
    "certificate",
)


class Throttle:
    """One log line per `seconds` for a condition that recurs on every request (a database or disk that is
    down), with how many were left out since the last, instead of one line per request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._skipped = 0

    def due(self) -> int | None:
        """The number of occurrences left out since the last line when a line is due now, else None."""
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.seconds:
                self._skipped += 1
                return None
            skipped, self._skipped, self._last = self._skipped, 0, now
            return skipped


_TRACEBACK_MARK = "Traceback (most recent call last)"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": _without_traceback(record.getMessage()),
            "pid": record.process,
        }
        entry.update(_fields(record))
        return json.dumps(entry, default=str)


class PlainFormatter(logging.Formatter):
    """`LEVEL logger message key=value ...` lines (LRS_WS_LOG_JSON=false): the same fields as the JSON lines,
    with the same rule: an exception's cause, never its traceback."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = _without_traceback(self.formatMessage(_with_message(record)))
        pairs = " ".join(f"{name}={_plain_value(value)}" for name, value in _fields(record).items())
        return f"{line} {pairs}" if pairs else line


def _fields(record: logging.LogRecord) -> dict[str, object]:
    """The record's extra fields, and for an exception its cause in place of a traceback."""
    found = {name: value for name in _EXTRA_FIELDS if (value := getattr(record, name, None)) is not None}
    if record.exc_info and record.exc_info[1] is not None:
        found.setdefault("error", _cause(record.exc_info[1]))
    return found


def _cause(exc: BaseException) -> str:
    """A database error names its class and the driver's first message line ("no such table: ..."); anything
    else only its type: tracebacks and other messages can carry SQL and values, so never reach the log."""
    if isinstance(exc, DBAPIError):
        return database_cause(exc)
    return type(exc).__name__


def database_cause(exc: BaseException) -> str:
    """`ExceptionClass: first line of its message` of the driver's error: never the SQL or its parameters."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


def _plain_value(value: object) -> str:
    text = str(value)
    if text and not any(ch.isspace() or ch in '"=' for ch in text):
        return text
    return json.dumps(text)


def _with_message(record: logging.LogRecord) -> logging.LogRecord:
    record.message = record.getMessage()
    return record


def _without_traceback(message: str) -> str:
    """Some libraries (gunicorn among them) format a traceback into the message text itself: drop it."""
    head, mark, _ = message.partition(_TRACEBACK_MARK)
    return head.rstrip() + " (traceback omitted)" if mark else message


def configure_logging(settings: Settings, stream=sys.stderr) -> None:  # type: ignore[no-untyped-def]
    root = logging.getLogger("lrs_ws")
    if getattr(root, "_lrs_configured", False):
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if settings.log_json else PlainFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    root._lrs_configured = True  # type: ignore[attr-defined]
    for noisy in ("sqlalchemy.engine", "sqlalchemy.pool"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if settings.log_json:
        # Everything else that logs (libraries, warnings) also leaves one JSON object a line, unless a host
        # such as gunicorn (see gunicorn_conf.logconfig_dict) already configured the root logger.
        top = logging.getLogger()
        if not top.handlers:
            fallback = logging.StreamHandler(stream)
            fallback.setFormatter(JsonFormatter())
            top.addHandler(fallback)
            top.setLevel(logging.WARNING)
        logging.captureWarnings(True)
