"""All tables of the service in one MetaData (what Alembic compares against)."""

# Imported to register their tables: batch jobs, the change feed, the outbox, nonces and failed logins,
# maintenance windows.
from lrs_ws.db import tables_batch, tables_feed, tables_mail, tables_maintenance, tables_security  # noqa: F401
from lrs_ws.db.tables import metadata

__all__ = ["metadata"]
