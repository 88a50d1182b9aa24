"""Planned maintenance windows, on the shared metadata: in the database so every app server and every
worker sees the same window. The open window is the row without `ended_at`; closed ones are kept."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table

from lrs_ws.db.tables import metadata

maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", DateTime, nullable=False),
    Column("until", DateTime, nullable=True),
    Column("message", String(500), nullable=False, default=""),
    Column("started_by", String(100), nullable=False),
    Column("ended_at", DateTime, nullable=True, index=True),
    Column("ended_by", String(100), nullable=True),
)

__all__ = ["maintenance_windows"]
