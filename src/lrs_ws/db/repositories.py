"""Repositories: every lookup of AO-owned data takes the organisation."""

# The domain classes are mapped imperatively onto the tables: queries name the tables' columns (`ach.c.uln`),
# which are typed, rather than the classes' mapped attributes, which mypy takes for plain instance values.

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from lrs_ws.db import feed
from lrs_ws.db.achievement_rows import achievement_data
from lrs_ws.db.driver_sql import DriverSelect
from lrs_ws.db.tables import (
    achievements,
    audit_events,
    learners,
    learning_aims,
    organisations,
    storable_id,
    users,
)
from lrs_ws.db.tables import achievements as ach
from lrs_ws.db.tables import event_data_challenges as edc
from lrs_ws.db.tables import users as user_rows
from lrs_ws.domain import model
from lrs_ws.domain.records import ActionCheck, Aim, Login
from lrs_ws.domain.values import Page

A = model.Achievement
E = model.EventDataChallenge


# The hot reads (a login, a learner, an achievement, a learner's page of achievements) as Core statements
# built once and sent on the driver's cursor (db/driver_sql.py), answered as plain data: no statement is
# built and no entity loaded per call.
_LOGIN = DriverSelect(
    select(
        users.c.id,
        users.c.username,
        users.c.password_hash,
        users.c.email,
        users.c.roles,
        users.c.active,
        organisations.c.id.label("organisation_id"),
        organisations.c.ref,
        organisations.c.active.label("organisation_active"),
    )
    .join_from(users, organisations, users.c.organisation_id == organisations.c.id)
    .where(users.c.username == bindparam("username"))
)
_LEARNER = DriverSelect(select(learners).where(learners.c.uln == bindparam("uln")))
_ACHIEVEMENT_BY_ID = select(achievements).where(
    achievements.c.id == bindparam("id"), achievements.c.deleted.is_(False)
)
_ACHIEVEMENT = DriverSelect(_ACHIEVEMENT_BY_ID)
_OWN_ACHIEVEMENT = DriverSelect(
    _ACHIEVEMENT_BY_ID.where(achievements.c.organisation_id == bindparam("organisation_id"))
)
# A learner's achievements include those recorded under the ULNs merged into it (`uln` is the master's).
_LEARNER_AND_MERGED = select(learners.c.uln).where(
    or_(learners.c.uln == bindparam("uln"), learners.c.merged_into == bindparam("uln"))
)
_LIVE_FOR_LEARNER = and_(
    achievements.c.organisation_id == bindparam("organisation_id"),
    achievements.c.uln.in_(_LEARNER_AND_MERGED.scalar_subquery()),
    achievements.c.deleted.is_(False),
)
_COUNT_FOR_LEARNER = DriverSelect(
    select(func.count().label("total")).select_from(achievements).where(_LIVE_FOR_LEARNER)
)


def _page_for_learner(column: Any, descending: bool) -> Any:
    """One page of a learner's achievements, each row with the count of all of them (`total`)."""
    key = achievements.c.id
    order = [column.desc(), key.desc()] if descending else [column.asc(), key.asc()]
    return (
        select(achievements, func.count().over().label("total"))
        .where(_LIVE_FOR_LEARNER)
        .order_by(*order)
        .offset(bindparam("offset"))
        .limit(bindparam("size"))
    )


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

    def refs(self, organisation_ids: Collection[int]) -> dict[int, str]:
        if not organisation_ids:
            return {}
        table = organisations.c
        rows = self.session.execute(select(table.id, table.ref).where(table.id.in_(list(organisation_ids))))
        return {row.id: row.ref for row in rows}


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, user: model.User) -> None:
        self.session.add(user)

    def by_username(self, username: str) -> model.User | None:
        return self.session.scalars(select(model.User).filter_by(username=username)).first()

    def get(self, user_id: int) -> model.User | None:
        return self.session.get(model.User, user_id)

    def login(self, username: str) -> Login | None:
        row = _LOGIN.first(self.session, {"username": username})
        if row is None:
            return None
        return Login(
            user_id=row.id,
            username=row.username,
            password_hash=row.password_hash,
            email=row.email,
            roles=row.roles,
            active=row.active,
            organisation_id=row.organisation_id,
            organisation_ref=row.ref,
            organisation_active=row.organisation_active,
        )

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

    def by_ulns(self, ulns: Collection[str]) -> dict[str, model.Learner]:
        if not ulns:
            return {}
        found = self.session.scalars(select(model.Learner).where(learners.c.uln.in_(sorted(ulns)))).all()
        return {learner.uln: learner for learner in found}

    def linked_into(self, uln: str) -> Sequence[str]:
        return self.session.scalars(
            select(learners.c.uln).where(learners.c.merged_into == uln).order_by(learners.c.uln)
        ).all()

    def view(self, uln: str) -> model.LearnerData | None:
        row = _LEARNER.first(self.session, {"uln": uln})
        if row is None:
            return None
        learner = model.LearnerData(
            uln=row.uln,
            given_name=row.given_name,
            family_name=row.family_name,
            date_of_birth=row.date_of_birth,
            gender=row.gender,
            postcode=row.postcode,
            previous_family_name=row.previous_family_name,
            merged_into=row.merged_into,
        )
        learner.id = row.id
        return learner


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
_PAGES_FOR_LEARNER = {
    (key, descending): DriverSelect(_page_for_learner(achievements.c[column], descending))
    for key, column in _SORT_COLUMNS.items()
    for descending in (False, True)
}


class AchievementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, achievement: model.Achievement) -> None:
        self.session.add(achievement)

    def get(self, achievement_id: int, organisation_id: int | None) -> model.Achievement | None:
        if not storable_id(achievement_id):
            return None
        stmt = select(A).where(ach.c.id == achievement_id, ach.c.deleted.is_(False))
        if organisation_id is not None:
            stmt = stmt.where(ach.c.organisation_id == organisation_id)
        return self.session.scalars(stmt).first()

    def get_any(self, achievement_id: int, organisation_id: int) -> model.Achievement | None:
        if not storable_id(achievement_id):
            return None
        return self.session.scalars(
            select(A).where(ach.c.id == achievement_id, ach.c.organisation_id == organisation_id)
        ).first()

    def get_any_many(self, keys: Collection[tuple[int, int]]) -> dict[int, model.Achievement]:
        if not keys:
            return {}
        found = self.session.scalars(select(A).where(tuple_(ach.c.id, ach.c.organisation_id).in_(list(keys))))
        return {a.id: a for a in found if a.id is not None}

    def _live_for(self, organisation_id: int, uln: str) -> ColumnElement[bool]:
        return and_(ach.c.organisation_id == organisation_id, ach.c.uln == uln, ach.c.deleted.is_(False))

    def view(self, achievement_id: int, organisation_id: int | None) -> model.AchievementData | None:
        if not storable_id(achievement_id):
            return None
        if organisation_id is None:
            row = _ACHIEVEMENT.first(self.session, {"id": achievement_id})
        else:
            params = {"id": achievement_id, "organisation_id": organisation_id}
            row = _OWN_ACHIEVEMENT.first(self.session, params)
        return achievement_data(row) if row is not None else None

    def for_learner(
        self, organisation_id: int, uln: str, sort_by: str, descending: bool, page: Page
    ) -> tuple[int, Sequence[model.AchievementData]]:
        where = {"organisation_id": organisation_id, "uln": uln}
        rows = _PAGES_FOR_LEARNER[sort_by, descending].all(
            self.session, {**where, "offset": page.offset, "size": page.size}
        )
        # A page past the end has no row to carry the count.
        total = (rows or _COUNT_FOR_LEARNER.all(self.session, where))[0].total
        return total, [achievement_data(row) for row in rows]

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
        if not storable_id(edc_id):
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
        newest_first = (edc.c.raised_at.desc(), edc.c.id.desc())
        # The page's ids first: a deep page then skips index entries, not whole rows.
        ids = select(edc.c.id).where(*conds).order_by(*newest_first).offset(page.offset).limit(page.size)
        rows = self.session.scalars(
            select(E).where(edc.c.id.in_(ids.scalar_subquery())).order_by(*newest_first)
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
        feed.note(
            self.session,
            at=event.at,
            operation=event.operation,
            achievement_id=event.achievement_id,
            edc_id=event.edc_id,
            before=event.before,
        )

    def for_achievement(self, achievement_id: int) -> Sequence[model.AuditEvent]:
        return self.session.scalars(
            select(model.AuditEvent)
            .where(audit_events.c.achievement_id == achievement_id)
            .order_by(audit_events.c.id)
        ).all()

    def page_for_achievement(self, achievement_id: int, page: Page) -> tuple[int, Sequence[model.AuditEvent]]:
        where = audit_events.c.achievement_id == achievement_id
        total = self.session.scalar(select(func.count()).select_from(audit_events).where(where)) or 0
        rows = self.session.scalars(
            select(model.AuditEvent)
            .where(where)
            .order_by(audit_events.c.id)
            .offset(page.offset)
            .limit(page.size)
        ).all()
        return total, rows

    def for_edc(self, edc_id: int) -> Sequence[model.AuditEvent]:
        return self.session.scalars(
            select(model.AuditEvent).where(audit_events.c.edc_id == edc_id).order_by(audit_events.c.id)
        ).all()

    def for_user(self, user_id: int) -> Sequence[model.AuditEvent]:
        return self.session.scalars(
            select(model.AuditEvent)
            .where(audit_events.c.subject_user_id == user_id)
            .order_by(audit_events.c.id)
        ).all()

    def latest(self, edc_ids: Collection[int], operation: str) -> dict[int, int]:
        if not edc_ids:
            return {}
        ev = audit_events.c
        rows = self.session.execute(
            select(ev.edc_id, func.max(ev.id).label("id"))
            .where(ev.edc_id.in_(list(edc_ids)), ev.operation == operation)
            .group_by(ev.edc_id)
        )
        return {row.edc_id: row.id for row in rows}

    def performed(self, checks: Sequence[ActionCheck]) -> set[int]:
        if not checks:
            return set()
        ev = audit_events.c
        parts = []
        for c in checks:
            after = ev.id > c.after_event_id if c.after_event_id is not None else ev.at >= c.since
            found = exists().where(
                ev.achievement_id == c.achievement_id,
                ev.organisation_id == c.organisation_id,
                after,
                *self._changed_to(c.field, c.value),
            )
            parts.append(select(literal(c.edc_id, Integer).label("edc_id")).where(found))
        stmt = parts[0] if len(parts) == 1 else union_all(*parts)
        return set(self.session.scalars(stmt))

    def _changed_to(self, field: str, value: str | bool) -> list[Any]:
        """The event's After shows `field` at `value` and its Before does not (both are JSON objects)."""
        ev = audit_events.c
        if self.session.get_bind().dialect.name == "postgresql":
            wanted = cast(literal(json.dumps(value)), JSONB)
            after, before = cast(ev.after, JSONB)[field], cast(ev.before, JSONB)[field]
            return [after == wanted, before.is_distinct_from(wanted)]
        # SQLite: json_extract gives a JSON string as text and true/false as 1/0, as the driver binds them.
        path = f'$."{field}"'
        after, before = func.json_extract(ev.after, path), func.json_extract(ev.before, path)
        return [after == value, or_(before.is_(None), before != value)]
