"""For gunicorn: `gunicorn 'lrs_ws.wsgi:application'` (batch jobs are processed by `lrs-ws worker`)."""

import gc

from lrs_ws.app import create_app
from lrs_ws.config import Settings

application = create_app(Settings.from_env())
# Everything built so far lives as long as the process: keep it out of the collector's full passes.
gc.freeze()
