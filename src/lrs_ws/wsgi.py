"""For gunicorn: `gunicorn 'lrs_ws.wsgi:application'`."""

from lrs_ws.app import create_app
from lrs_ws.config import Settings

application = create_app(Settings.from_env())
