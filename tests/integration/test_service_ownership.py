"""Ownership is checked in the service layer: another AO's record answers exactly like a missing one.

The use cases run against a real unit of work over a migrated database holding the demo data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.dbstate import EDC_TABLES, db_state
from support.demo import JAMES, ORG1, TEST_LEARNER

from lrs_ws.app import Wiring
from lrs_ws.domain import errors as e
from lrs_ws.domain import model
from lrs_ws.domain.values import Page
from lrs_ws.service import achievements as ach
from lrs_ws.service import edcs
from lrs_ws.service.auth import Caller

PAGE = Page(1, 50)
MISSING_ID = 987_654


@pytest.fixture
def world(demo_wiring: Wiring) -> Wiring:
    """The demo data in a migrated database of the test's own."""
    return demo_wiring


def caller_for(w: Wiring, username: str) -> Caller:
    with w.uow_factory() as uow:
        user = uow.users.by_username(username)
        assert user is not None and user.id is not None
        org = uow.organisations.get(user.organisation_id)
        assert org is not None and org.id is not None
        return Caller(user.id, user.username, org.id, org.ref, user.role_set, user.email)


def demo1_achievement_id(w: Wiring, day: int = 1) -> int:
    with w.uow_factory() as uow:
        org = uow.organisations.by_ref(ORG1)
        assert org is not None and org.id is not None
        found = uow.achievements.matching(org.id, TEST_LEARNER, "J/602/3521", f"DEMO01-{day:02d}")
        assert len(found) == 1 and found[0].id is not None
        return found[0].id


def demo1_edc_reference(w: Wiring, status: str) -> str:
    with w.uow_factory() as uow:
        org = uow.organisations.by_ref(ORG1)
        assert org is not None
        _, rows = uow.edcs.list(org.id, status, PAGE)
        return rows[0].reference


Use = Callable[[Wiring, Caller, Any], Any]

ACHIEVEMENT_USES: dict[str, Use] = {
    "get": lambda w, c, i: ach.get_achievement(w.uow_factory(), caller=c, achievement_id=i),
    "edit_grade": lambda w, c, i: ach.edit_grade(
        w.uow_factory(), caller=c, achievement_id=i, new_grade="Merit"
    ),
    "delete": lambda w, c, i: ach.delete(w.uow_factory(), caller=c, achievement_id=i),
    "withdraw": lambda w, c, i: ach.withdraw(w.uow_factory(), caller=c, achievement_id=i, reason="error"),
    "reinstate": lambda w, c, i: ach.reinstate(w.uow_factory(), caller=c, achievement_id=i),
    "transfer": lambda w, c, i: ach.transfer(w.uow_factory(), caller=c, achievement_id=i, new_uln=JAMES),
    "history": lambda w, c, i: ach.history(w.uow_factory(), caller=c, achievement_id=i, page=PAGE),
}

EDC_USES: dict[str, Use] = {
    "process": lambda w, c, r: edcs.process(w.uow_factory(), caller=c, reference=r),
    "decide": lambda w, c, r: edcs.record_decision(
        w.uow_factory(), caller=c, reference=r, decision=model.ACCEPTED, reason="agreed"
    ),
}


def refusal(use: Use, w: Wiring, caller: Caller, key: Any) -> e.DomainError:
    with pytest.raises(e.DomainError) as caught:
        use(w, caller, key)
    return caught.value


@pytest.mark.parametrize("name", ACHIEVEMENT_USES)
def test_another_aos_achievement_is_refused_exactly_like_a_missing_one(world: Wiring, name: str) -> None:
    use = ACHIEVEMENT_USES[name]
    demo2 = caller_for(world, "demo2.edc")
    theirs = demo1_achievement_id(world)
    before = db_state(world.engine, EDC_TABLES)
    other = refusal(use, world, demo2, theirs)
    missing = refusal(use, world, demo2, MISSING_ID)
    assert type(other) is type(missing) is e.NotFound
    assert other.message.replace(str(theirs), "<id>") == missing.message.replace(str(MISSING_ID), "<id>")
    assert db_state(world.engine, EDC_TABLES) == before


@pytest.mark.parametrize("name", EDC_USES)
def test_another_aos_edc_is_refused_exactly_like_a_missing_one(world: Wiring, name: str) -> None:
    use = EDC_USES[name]
    demo2 = caller_for(world, "demo2.edc")
    theirs = demo1_edc_reference(world, model.EDC_NEW)
    missing_ref = model.format_edc_reference(MISSING_ID)
    before = db_state(world.engine, EDC_TABLES)
    other = refusal(use, world, demo2, theirs)
    missing = refusal(use, world, demo2, missing_ref)
    assert type(other) is type(missing) is e.NotFound
    assert other.message.replace(theirs, "<ref>") == missing.message.replace(missing_ref, "<ref>")
    assert db_state(world.engine, EDC_TABLES) == before


def test_the_owner_can_use_every_achievement_operation(world: Wiring) -> None:
    demo1 = caller_for(world, "demo1.edc")
    target = demo1_achievement_id(world, 3)
    assert ach.get_achievement(world.uow_factory(), caller=demo1, achievement_id=target).id == target
    edited = ach.edit_grade(world.uow_factory(), caller=demo1, achievement_id=target, new_grade="Merit")
    assert edited.grade == "Merit"
    assert ach.withdraw(world.uow_factory(), caller=demo1, achievement_id=target, reason="r").withdrawn
    assert not ach.reinstate(world.uow_factory(), caller=demo1, achievement_id=target).withdrawn
    moved = ach.transfer(world.uow_factory(), caller=demo1, achievement_id=target, new_uln=JAMES)
    assert moved.uln == JAMES
    assert ach.delete(world.uow_factory(), caller=demo1, achievement_id=target).deleted
    trail = ach.history(world.uow_factory(), caller=demo1, achievement_id=target, page=PAGE)
    operations = [h.operation for h in trail.entries]
    # The demo's third achievement carries a (closed) EDC: its raising is part of the achievement's trail.
    assert operations == [
        "Create",
        "RaiseEventDataChallenge",
        "EditGrade",
        "Withdraw",
        "Reinstate",
        "Transfer",
        "Delete",
    ]


def test_a_learners_achievements_are_only_the_callers_organisations(world: Wiring) -> None:
    for username, expected in (("demo1.edc", 3), ("demo2.edc", 1)):
        caller = caller_for(world, username)
        found = ach.get_learner_achievements(
            world.uow_factory(), caller=caller, uln=TEST_LEARNER, sort_by=None, descending=False, page=PAGE
        )
        assert found.total == expected
        assert {a.organisation_id for a in found.achievements} == {caller.organisation_id}


def test_an_ao_lists_only_its_own_edcs(world: Wiring) -> None:
    for username, expected in (("demo1.edc", 3), ("demo2.edc", 0)):
        caller = caller_for(world, username)
        listed = edcs.list_edcs(world.uow_factory(), caller=caller, status=None, page=PAGE)
        assert listed.total == expected


def test_lrs_business_support_reads_any_achievement_but_never_edits_one(world: Wiring) -> None:
    support = caller_for(world, "lrs.support")
    target = demo1_achievement_id(world)
    assert ach.get_achievement(world.uow_factory(), caller=support, achievement_id=target).id == target
    before = db_state(world.engine, EDC_TABLES)
    for name in ("edit_grade", "delete", "withdraw", "reinstate", "transfer"):
        assert isinstance(refusal(ACHIEVEMENT_USES[name], world, support, target), e.AccessDenied)
    assert db_state(world.engine, EDC_TABLES) == before


def test_lrs_business_support_sees_every_organisations_edcs(world: Wiring) -> None:
    support = caller_for(world, "lrs.support")
    assert edcs.list_edcs(world.uow_factory(), caller=support, status=None, page=PAGE).total == 3
