"""`lrs-ws` run through its entry point inside the test process: much faster than the executable, with what
it prints and its exit status as the executable would give them."""

from __future__ import annotations

import io
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from unittest import mock

from lrs_ws.cli import main


@contextmanager
def _logging_kept() -> Iterator[None]:
    """The command configures logging for its process (its own handler, no propagation to the root):
    undone afterwards, so later tests still see the log records through pytest's handler."""
    ours, top = logging.getLogger("lrs_ws"), logging.getLogger()
    saved = (
        ours.handlers[:],
        ours.level,
        ours.propagate,
        ours.__dict__.get("_lrs_configured"),
        top.handlers[:],
        top.level,
    )
    try:
        yield
    finally:
        ours.handlers[:], top.handlers[:] = saved[0], saved[4]
        ours.setLevel(saved[1])
        top.setLevel(saved[5])
        ours.propagate = saved[2]
        ours.__dict__.pop("_lrs_configured", None)
        if saved[3] is not None:
            ours.__dict__["_lrs_configured"] = saved[3]
        logging.captureWarnings(False)


def run_cli(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`lrs-ws ARGS` with `url` the only LRS_WS_ setting and `stdin` as its standard input."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env["LRS_WS_DATABASE_URL"] = url
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, env, clear=True),
        mock.patch("sys.stdin", io.StringIO(stdin)),
        redirect_stdout(out),
        redirect_stderr(err),
        _logging_kept(),
    ):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse refusing the arguments
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(["lrs-ws", *args], code, out.getvalue(), err.getvalue())
