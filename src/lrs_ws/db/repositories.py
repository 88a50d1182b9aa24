"""Repositories: every lookup of AO-owned data takes the organisation."""

# The domain classes are mapped imperatively onto the tables: queries name the tables' columns (`ach.c.uln`),
# which are typed, rather than the classes' mapped attributes, which mypy takes for plain instance values.

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from lrs_ws.db.tables import achievements as ach
from lrs_ws.db.tables import audit_events, learning_aims, organisations
from lrs_ws.db.tables import event_data_challenges as edc
from lrs_ws.db.tables import users as user_rows
from lrs_ws.domain import model
from lrs_ws.domain.values import Page
from lrs_ws.service.uow import Aim

A = model.Achievement
E = model.EventDataChallenge

# Ids are 32-bit integer columns; a client can send any integer. PostgreSQL refuses a larger one with an
# error (and SQLite overflows past 64 bits), so such an id is simply one that matches nothing.
_ID_MIN, _ID_MAX = -(2**31), 2**31 - 1


def _storable_id(value: int | None) -> bool:
    return value is not None and _ID_MIN <= value <= _ID_MAX


class OrganisationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, organisation: model.Organisation) -> None:
        self.session.add(organisation)

    def by_ref(self, ref: str) -> model.Organisation | None:
        return self.session.scalars(select(model.Organisation).filter_by(ref=ref)).first()

    def get(self, organisation_id: int) -> model.Organisation | None:
        return self.session.get(model.Organisation, organisation_id)

    def all(self) -> Sequence[model.Organisation]:
        return self.session.scalars(select(model.Organisation).order_by(organisations.c.ref)).all()


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, user: model.User) -> None:
        self.session.add(user)

    def by_username(self, username: str) -> model.User | None:
        return self.session.scalars(select(model.User).filter_by(username=username)).first()

    def listed(self, organisation_id: int | None) -> Sequence[model.User]:
        stmt = select(model.User).order_by(user_rows.c.username)
        if organisation_id is not None:
            stmt = stmt.filter_by(organisation_id=organisation_id)
        return self.session.scalars(stmt).all()

    def with_role(self, organisation_id: int, role: str) -> Sequence[model.User]:
        users = self.session.scalars(
            select(model.User)
            .filter_by(organisation_id=organisation_id, active=True)
            .order_by(user_rows.c.id)
        ).all()
        return [u for u in users if u.has_role(role)]


class LearnerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, learner: model.Learner) -> None:
        self.session.add(learner)

    def by_uln(self, uln: str) -> model.Learner | None:
        return self.session.scalars(select(model.Learner).filter_by(uln=uln)).first()


class AimRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, reference: str) -> Aim | None:
        row = self.session.execute(
            select(learning_aims).where(learning_aims.c.reference == reference)
        ).first()
        return Aim(row.reference, row.title, row.aim_type, row.level) if row else None

    def add(self, aim: Aim) -> None:
        self.session.execute(
            learning_aims.insert().values(
                reference=aim.reference, title=aim.title, aim_type=aim.aim_type, level=aim.level
            )
        )


_SORT_COLUMNS = {
    "ReferenceNumber": "reference",
    "Type": "aim_type",
    "Level": "level",
    "Grade": "grade",
    "AwardDate": "award_date",
}


class AchievementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, achievement: model.Achievement) -> None:
        self.session.add(achievement)

    def get(self, achievement_id: int, organisation_id: int | None) -> model.Achievement | None:
        if not _storable_id(achievement_id):
            return None
        stmt = select(A).where(ach.c.id == achievement_id, ach.c.deleted.is_(False))
        if organisation_id is not None:
            stmt = stmt.where(ach.c.organisation_id == organisation_id)
        return self.session.scalars(stmt).first()

    def get_any(self, achievement_id: int, organisation_id: int) -> model.Achievement | None:
        if not _storable_id(achievement_id):
            return None
        return self.session.scalars(
            select(A).where(ach.c.id == achievement_id, ach.c.organisation_id == organisation_id)
        ).first()

    def _live_for(self, organisation_id: int, uln: str) -> ColumnElement[bool]:
        return and_(ach.c.organisation_id == organisation_id, ach.c.uln == uln, ach.c.deleted.is_(False))

    def for_learner(
        self, organisation_id: int, uln: str, sort_by: str, descending: bool, page: Page
    ) -> tuple[int, Sequence[model.Achievement]]:
        where = self._live_for(organisation_id, uln)
        total = self.session.scalar(select(func.count()).select_from(A).where(where)) or 0
        column = ach.c[_SORT_COLUMNS[sort_by]]
        order = [column.desc(), ach.c.id.desc()] if descending else [column.asc(), ach.c.id.asc()]
        rows = self.session.scalars(
            select(A).where(where).order_by(*order).offset(page.offset).limit(page.size)
        ).all()
        return total, rows

    def matching(
        self, organisation_id: int, uln: str, reference: str, mis_identifier: str | None
    ) -> Sequence[model.Achievement]:
        stmt = select(A).where(self._live_for(organisation_id, uln), ach.c.reference == reference)
        if mis_identifier:
            stmt = stmt.where(ach.c.mis_identifier == mis_identifier)
        return self.session.scalars(stmt.order_by(ach.c.id)).all()


class EdcRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, edc: model.EventDataChallenge) -> None:
        self.session.add(edc)

    def get(self, edc_id: int, organisation_id: int | None) -> model.EventDataChallenge | None:
        if not _storable_id(edc_id):
            return None
        stmt = select(E).where(edc.c.id == edc_id)
        if organisation_id is not None:
            stmt = stmt.where(edc.c.organisation_id == organisation_id)
        return self.session.scalars(stmt).first()

    def list(
        self, organisation_id: int | None, status: str | None, page: Page
    ) -> tuple[int, Sequence[model.EventDataChallenge]]:
        conds: list[ColumnElement[bool]] = []
        if organisation_id is not None:
            conds.append(edc.c.organisation_id == organisation_id)
        if status is not None:
            conds.append(edc.c.status == status)
        total = self.session.scalar(select(func.count()).select_from(E).where(*conds)) or 0
        rows = self.session.scalars(
            select(E).where(*conds).order_by(edc.c.raised_at.desc(), edc.c.id.desc())
            .offset(page.offset).limit(page.size)
        ).all()
        return total, rows

    def open_for_achievement(self, achievement_id: int) -> Sequence[model.EventDataChallenge]:
        return self.session.scalars(
            select(E).where(edc.c.achievement_id == achievement_id, edc.c.status != model.EDC_COMPLETE)
        ).all()

    def outstanding(self, organisation_id: int | None) -> Sequence[model.EventDataChallenge]:
        stmt = select(E).where(edc.c.status != model.EDC_COMPLETE)
        if organisation_id is not None:
            stmt = stmt.where(edc.c.organisation_id == organisation_id)
        return self.session.scalars(stmt.order_by(edc.c.organisation_id, edc.c.due_date, edc.c.id)).all()


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, event: model.AuditEvent) -> None:
        self.session.add(event)

    def for_achievement(self, achievement_id: int) -> Sequence[model.AuditEvent]:
        return self.session.scalars(
            select(model.AuditEvent)
            .where(audit_events.c.achievement_id == achievement_id)
            .order_by(audit_events.c.id)
        ).all()

    def for_edc(self, edc_id: int) -> Sequence[model.AuditEvent]:
        return self.session.scalars(
            select(model.AuditEvent)
            .where(audit_events.c.edc_id == edc_id)
            .order_by(audit_events.c.id)
        ).all()
