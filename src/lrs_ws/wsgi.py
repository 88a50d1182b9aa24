"""For gunicorn: `gunicorn 'lrs_ws.wsgi:application'` (batch jobs are processed by `lrs-ws worker`)."""

from lrs_ws.app import create_app
from lrs_ws.config import Settings

application = create_app(Settings.from_env())
