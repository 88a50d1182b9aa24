"""gunicorn settings for lrs_ws.

Used by `lrs-ws serve` (`--config python:lrs_ws.gunicorn_conf`) and by a plain
`gunicorn lrs_ws.wsgi:application` started in the repository root (its `gunicorn.conf.py` imports this).
Every number can be changed through the environment, read by the same parser as every other setting
(`lrs_ws.config.Settings`: a bad value stops gunicorn at once with one line naming the variable);
docs/hardening.md explains each choice.

Besides the limits this file does three things the application cannot do for itself:

* **Metrics across workers.** prometheus-client's multiprocess mode needs one directory shared by all
  workers, named in ``PROMETHEUS_MULTIPROC_DIR`` before any worker imports prometheus_client. It is set
  here, when the master loads this file: the operator's directory (``LRS_WS_METRICS_DIR``, or
  ``PROMETHEUS_MULTIPROC_DIR`` itself; emptied at start), or else a fresh temporary one removed at exit.
  Workers keep counters and histograms only (no live gauges), so a dead worker's files need no clean-up.
* **JSON logs from gunicorn itself** (worker timeouts, boot errors), in the same one-object-a-line format
  as the application's, with tracebacks reduced to the exception type.
* **Graceful shutdown.** On SIGTERM each worker finishes the requests in hand within `graceful_timeout`;
  no batch work runs in these processes (`lrs-ws worker` is a process of its own).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from lrs_ws.config import settings_or_exit

_settings = settings_or_exit()

# -- where and how many ----------------------------------------------------------------------------------
wsgi_app = "lrs_ws.wsgi:application"
workers = _settings.gunicorn_workers
# Threaded workers: each process's main loop accepts connections and a pool of threads answers requests. A
# connection that sends nothing holds a thread for at most 5 s and is then parked in the main loop until it
# sends something, so idle connections stall nothing while each process has more threads than there are idle
# connections on it (a sync worker is held by each one in turn). A client trickling its request holds a
# thread while it trickles: on untrusted networks put a buffering reverse proxy in front. Memory: up to
# `workers` x `threads` requests are parsed at once (docs/hardening.md).
worker_class = "gthread"
threads = _settings.gunicorn_threads

# -- time limits -----------------------------------------------------------------------------------------
# A worker process whose main loop is silent this long (stuck) is killed and replaced; with threaded workers
# a long request does not count, only a stuck process. Batch jobs never run in these processes.
timeout = _settings.gunicorn_timeout
# After SIGTERM: how long workers may take to finish the requests in hand.
graceful_timeout = _settings.gunicorn_graceful_timeout
keepalive = 5

# -- HTTP limits (the SOAP body limit is LRS_WS_MAX_REQUEST_BYTES, enforced by the application) ----------
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Recycle a worker after this many requests (0: never). Off by default: the hostile-input and fuzzing tests
# show no growth of worker memory; set it as a safety net if a deployment ever does.
max_requests = _settings.gunicorn_max_requests
max_requests_jitter = max(max_requests // 10, 0)

# -- operations ------------------------------------------------------------------------------------------
control_socket_disable = True
accesslog = None  # the application writes one JSON line per request (lrs_ws.observability.requests)
errorlog = "-"
# At "info" (the default) gunicorn says where it listens and when workers start or stop.
loglevel = _settings.gunicorn_loglevel
_formatter = (
    "lrs_ws.observability.logs.JsonFormatter"
    if _settings.log_json
    else "lrs_ws.observability.logs.PlainFormatter"
)
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"lrs_ws": {"()": _formatter}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "lrs_ws", "stream": "ext://sys.stderr"},
    },
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
        # Off: the application's own request line (lrs_ws.observability.requests) replaces the access log.
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}

# -- metrics directory (before any worker imports prometheus_client) ------------------------------------
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_own_metrics_dir: str | None = None
if os.environ.get("LRS_WS_METRICS_DIR"):
    os.environ[MULTIPROC_ENV] = os.environ["LRS_WS_METRICS_DIR"]
elif not os.environ.get(MULTIPROC_ENV):
    _own_metrics_dir = tempfile.mkdtemp(prefix="lrs_ws_metrics_")
    os.environ[MULTIPROC_ENV] = _own_metrics_dir


def on_starting(server: Any) -> None:
    """Master, once: start the metrics from zero (an operator's directory may hold a previous run's)."""
    path = os.environ[MULTIPROC_ENV]
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


def on_exit(server: Any) -> None:
    if _own_metrics_dir is not None:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
