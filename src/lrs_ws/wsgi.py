"""For gunicorn: `gunicorn 'lrs_ws.wsgi:application'`."""

from lrs_ws.app import create_app
from lrs_ws.config import Settings
from lrs_ws.jobs.embedded import start_in_server

application = create_app(Settings.from_env())
# One batch worker thread per host and database (LRS_WS_RUN_WORKER=false turns it off): lrs_ws.jobs.embedded.
start_in_server(application.wiring)  # type: ignore[attr-defined]
