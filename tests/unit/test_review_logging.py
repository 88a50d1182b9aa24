"""Plain-text logs (LRS_WS_LOG_JSON=false) keep the same promise as JSON ones: no traceback."""

from __future__ import annotations

import io
import logging
from dataclasses import replace

import pytest

from lrs_ws.config import Settings
from lrs_ws.observability.logs import configure_logging


@pytest.fixture
def fresh_lrs_logger():
    root = logging.getLogger("lrs_ws")
    saved = (list(root.handlers), root.level, root.propagate, getattr(root, "_lrs_configured", False))
    root.handlers = []
    root._lrs_configured = False  # type: ignore[attr-defined]
    yield root
    root.handlers, root.level, root.propagate = saved[0], saved[1], saved[2]
    root._lrs_configured = saved[3]  # type: ignore[attr-defined]


def test_plain_text_logs_name_the_exception_type_and_never_carry_its_traceback_or_sql(fresh_lrs_logger):
    stream = io.StringIO()
    configure_logging(replace(Settings(), log_json=False), stream=stream)
    try:
        raise RuntimeError("SELECT password_hash FROM users WHERE username = 'demo1.edc'")
    except RuntimeError:
        logging.getLogger("lrs_ws.soap").error("unexpected error", exc_info=True)
    text = stream.getvalue()
    assert "unexpected error" in text
    assert "RuntimeError" in text
    assert "Traceback" not in text
    assert "SELECT" not in text
    assert "password_hash" not in text
