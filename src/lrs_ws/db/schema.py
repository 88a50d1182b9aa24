"""All tables of the service in one MetaData (what Alembic compares against)."""

from lrs_ws.db import tables_batch, tables_mail  # noqa: F401  (register the batch job and outbox tables)
from lrs_ws.db.tables import metadata

__all__ = ["metadata"]
