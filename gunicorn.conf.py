"""Read by gunicorn when started in the repository root: the settings in lrs_ws.gunicorn_conf."""

from lrs_ws.gunicorn_conf import *  # noqa: F401,F403
