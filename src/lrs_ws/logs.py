"""Structured logging: one JSON object a line, with the request's id, operation, organisation and outcome."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from lrs_ws.config import Settings

_EXTRA_FIELDS = (
    "request_id", "method", "path", "operation", "organisation", "user", "outcome", "code", "reason",
    "status", "duration_ms", "job_id", "detail", "error", "certificate",
)
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
        for name in _EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's type only: tracebacks can carry SQL and values, so they never reach the log.
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


class PlainFormatter(logging.Formatter):
    """`LEVEL logger message` lines (LRS_WS_LOG_JSON=false), with the same rule: an exception's type, never
    its traceback."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = _without_traceback(self.formatMessage(_with_message(record)))
        if record.exc_info and record.exc_info[0] is not None:
            line += f" (error: {record.exc_info[0].__name__})"
        return line


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
