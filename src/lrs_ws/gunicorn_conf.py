"""gunicorn settings used by `lrs-ws serve` (`--config python:lrs_ws.gunicorn_conf`)."""

import os

wsgi_app = "lrs_ws.wsgi:application"
timeout = int(os.environ.get("LRS_WS_GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("LRS_WS_GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = "warning"
