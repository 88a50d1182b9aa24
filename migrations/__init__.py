"""Alembic migrations; installed as `lrs_ws.migrations` (see setup.py and lrs_ws.db.migrate)."""
