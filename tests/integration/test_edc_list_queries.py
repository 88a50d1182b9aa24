"""A page of ListEventDataChallenges costs the same number of SQL statements whatever the number of EDCs on
it: the corrective actions of the whole page are verified at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import event
from support.demo import SUPPORT_USER, TEST_LEARNER

from lrs_ws.app import Wiring
from lrs_ws.domain import model
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.values import Page
from lrs_ws.service import achievements as ach
from lrs_ws.service import edc_lifecycle, edcs
from lrs_ws.service.auth import Caller
from lrs_ws.service.operator import operator_caller

PAGE = Page(1, 50)


def who(w: Wiring, username: str) -> Caller:
    return operator_caller(w.uow_factory(), username=username)


def organisation_with_edcs(w: Wiring, ref: str, count: int) -> tuple[Caller, list[int]]:
    """An organisation of its own with one EDC user and `count` accepted EditGrade EDCs (each on an
    achievement of its own); every other one's grade was then corrected: the page holds verified and
    unverified ones."""
    username = f"{ref.lower()}.edc"
    with w.uow_factory() as uow:
        org = model.Organisation(ref=ref, name=f"Organisation {ref}", ukprn="10000099")
        uow.organisations.add(org)
        uow.flush()
        assert org.id is not None
        uow.users.add(
            model.User(
                organisation_id=org.id,
                username=username,
                password_hash="x",
                email=f"{username}@example.invalid",
                roles="AO_USER,EDC_USER",
            )
        )
        ids = []
        for _ in range(count):
            a = model.Achievement(
                organisation_id=org.id,
                uln=TEST_LEARNER,
                reference="K/501/5773",
                title="Unit",
                aim_type="Unit",
                level="Level 2",
                grade="Pass",
                award_date=date(2015, 6, 1),
                mis_identifier=uuid.uuid4().hex[:12],
                created_at=utcnow(),
            )
            uow.achievements.add(a)
            uow.flush()
            ids.append(int(a.id))  # type: ignore[arg-type]
        uow.commit()
    caller = who(w, username)
    support = who(w, SUPPORT_USER)
    for n, achievement_id in enumerate(ids):
        edc = edc_lifecycle.raise_edc(
            w.uow_factory(),
            caller=support,
            achievement_id=achievement_id,
            problem_type="GradeIncorrect",
            description="The grade should be Merit.",
            recommended_action="EditGrade",
            supplied_value="Merit",
        ).edc
        edcs.process(w.uow_factory(), caller=caller, reference=edc.reference)
        edcs.record_decision(
            w.uow_factory(), caller=caller, reference=edc.reference, decision="Accepted", reason="Agreed."
        )
        if n % 2 == 0:
            ach.edit_grade(w.uow_factory(), caller=caller, achievement_id=achievement_id, new_grade="Merit")
    return caller, ids


@contextmanager
def statements(w: Wiring) -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(w.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(w.engine, "before_cursor_execute", count)


def listed(w: Wiring, caller: Caller) -> list[model.EventDataChallenge]:
    return list(edcs.list_edcs(w.uow_factory(), caller=caller, status=None, page=PAGE).items)


def test_a_page_of_twenty_edcs_costs_the_same_statements_as_a_page_of_one(demo_wiring: Wiring) -> None:
    one, _ = organisation_with_edcs(demo_wiring, "ONE001", 1)
    twenty, _ = organisation_with_edcs(demo_wiring, "TWE020", 20)
    # The first listing stores each EDC's verification; the counts compare listings with nothing to store.
    listed(demo_wiring, one), listed(demo_wiring, twenty)
    with statements(demo_wiring) as for_one:
        page_of_one = listed(demo_wiring, one)
    with statements(demo_wiring) as for_twenty:
        page_of_twenty = listed(demo_wiring, twenty)
    assert len(page_of_one) == 1 and len(page_of_twenty) == 20
    assert sum(e.action_verified for e in page_of_twenty) == 10 and page_of_one[0].action_verified
    assert len(for_twenty) == len(for_one), "\n".join(for_twenty)
