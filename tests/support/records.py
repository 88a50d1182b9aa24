"""Helpers for end-to-end tests that need records of their own on the shared demo database: fresh learners,
achievements created over SOAP, EDCs written straight into the database."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import text

from lrs_ws.domain import model
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.values import uln_is_valid
from support.demo import AMIRA, LEARNER_NAMES, SUPPORT_USER
from support.soap import DEMO1


def random_uln() -> str:
    """A ULN with a valid check digit, very unlikely to be on the register."""
    while True:
        prefix = str(random.randint(100_000_000, 999_999_999))
        for digit in range(10):
            if uln_is_valid(prefix + str(digit)):
                return prefix + str(digit)


def unregistered_uln(wiring: Any) -> str:
    """A valid ULN that is not on the register."""
    while True:
        uln = random_uln()
        with wiring.uow_factory() as uow:
            if uow.learners.by_uln(uln) is None:
                return uln


def add_learner(wiring: Any, given: str = "Sam", family: str = "Sorter") -> str:
    """A new learner on the register; returns the ULN."""
    uln = unregistered_uln(wiring)
    with wiring.uow_factory() as uow:
        uow.learners.add(model.Learner(uln=uln, given_name=given, family_name=family))
        uow.commit()
    return uln


def achievement_record(
    uln: str = AMIRA,
    names: tuple[str, str] | None = None,
    *,
    reference: str = "K/501/5773",
    grade: str = "Pass",
    award: date = date(2016, 5, 1),
    mis: str | None = None,
    action: int = 1,
) -> dict[str, Any]:
    given, family = names or LEARNER_NAMES[uln]
    return {
        "AchievementAwardDate": datetime(award.year, award.month, award.day),
        "Action": action,
        "ActionDate": datetime(2016, 5, 2),
        "GivenName": given,
        "FamilyName": family,
        "Grade": grade,
        "MisIdentifier": mis if mis is not None else uuid.uuid4().hex[:16],
        "ProviderUkprn": "10000001",
        "Uln": uln,
        "UnitOrQualificationReferenceNumber": reference,
    }


def create(soap: Any, user: dict[str, str] = DEMO1, submission: str = "Final", **record: Any) -> Any:
    """A new achievement of `user`'s organisation (a unique MisIdentifier keeps it apart from others)."""
    return soap.CreateAchievement(
        invokingUser=user, submissionType=submission, achievement=achievement_record(**record)
    )


def create_id(soap: Any, user: dict[str, str] = DEMO1, **record: Any) -> int:
    return int(create(soap, user, **record).AchievementId)


def add_edc(wiring: Any, achievement_id: int, status: str = model.EDC_NEW, **changes: Any) -> str:
    """An EDC raised against one of the test's own achievements, written directly; returns its reference."""
    now = utcnow()
    with wiring.uow_factory() as uow:
        a = uow.achievements.get(achievement_id, None)
        assert a is not None, achievement_id
        learner = uow.learners.by_uln(a.uln)
        fields: dict[str, Any] = dict(
            organisation_id=a.organisation_id,
            achievement_id=achievement_id,
            uln=a.uln,
            given_name=learner.given_name if learner else "",
            family_name=learner.family_name if learner else "",
            problem_type="GradeIncorrect",
            description="The grade should be Merit",
            recommended_action="EditGrade",
            supplied_value="Merit",
            raised_at=now,
            raised_by=SUPPORT_USER,
        )
        fields.update(changes)
        edc = model.EventDataChallenge(**fields)
        if status in (model.EDC_IN_PROGRESS, model.EDC_COMPLETE):
            edc.process()
        if status == model.EDC_COMPLETE:
            edc.decide(model.REJECTED, "Not a problem", now)
            edc.close(now)
        uow.edcs.add(edc)
        a.under_challenge = status != model.EDC_COMPLETE
        uow.flush()
        reference = edc.reference
        uow.commit()
    return reference


def achievement_row(wiring: Any, achievement_id: int) -> dict[str, Any]:
    with wiring.engine.connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM achievements WHERE id = :i"), {"i": achievement_id})
            .mappings()
            .one()
        )
        return dict(row)


def audit_count(wiring: Any, achievement_id: int | None = None) -> int:
    sql = "SELECT count(*) FROM audit_events"
    params: dict[str, Any] = {}
    if achievement_id is not None:
        sql += " WHERE achievement_id = :i"
        params["i"] = achievement_id
    with wiring.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def max_id(wiring: Any, table: str) -> int:
    with wiring.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one())


def org_id(wiring: Any, ref: str) -> int:
    with wiring.uow_factory() as uow:
        org = uow.organisations.by_ref(ref)
        assert org is not None and org.id is not None
        return org.id
