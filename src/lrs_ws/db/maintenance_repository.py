"""The maintenance window repository."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from lrs_ws.db.tables_maintenance import maintenance_windows as M
from lrs_ws.domain.maintenance import MaintenanceWindow


class MaintenanceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def current(self) -> MaintenanceWindow | None:
        row = self.session.execute(
            select(M.c.started_at, M.c.until, M.c.message, M.c.started_by)
            .where(M.c.ended_at.is_(None))
            .order_by(M.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return MaintenanceWindow(row.started_at, row.until, row.message, row.started_by)

    def open(self, window: MaintenanceWindow) -> None:
        self.session.execute(
            insert(M).values(
                started_at=window.started_at,
                until=window.until,
                message=window.message,
                started_by=window.started_by,
            )
        )

    def close(self, now: datetime, by: str) -> bool:
        closed = self.session.execute(
            update(M).where(M.c.ended_at.is_(None)).values(ended_at=now, ended_by=by)
        )
        return bool(getattr(closed, "rowcount", 0))
