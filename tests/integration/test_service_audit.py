"""Every change writes one audit event (who, organisation, operation, before/after, when, request id) in the
same transaction as the change: when the audit write fails, the change is not kept either."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.demo import DEMO1_USER, JAMES, ORG1, TEST_LEARNER

from lrs_ws.app import Wiring
from lrs_ws.db.uow import SqlAlchemyUnitOfWork
from lrs_ws.domain import model
from lrs_ws.domain.ports import AuditRepository
from lrs_ws.service import achievements as ach
from lrs_ws.service import edcs
from lrs_ws.service.auth import Caller


@pytest.fixture
def world(demo_wiring: Wiring) -> Wiring:
    """The demo data in a migrated database of the test's own."""
    return demo_wiring


def demo1(w: Wiring, request_id: str = "req-1") -> Caller:
    with w.uow_factory() as uow:
        user = uow.users.by_username(DEMO1_USER)
        org = uow.organisations.by_ref(ORG1)
        assert user is not None and user.id is not None and org is not None and org.id is not None
        return Caller(user.id, user.username, org.id, org.ref, user.role_set, user.email, request_id)


def first_achievement(w: Wiring, caller: Caller) -> model.Achievement:
    with w.uow_factory() as uow:
        found = uow.achievements.matching(caller.organisation_id, TEST_LEARNER, "J/602/3521", "DEMO01-01")
        return found[0]


def events(w: Wiring, achievement_id: int) -> list[model.AuditEvent]:
    with w.uow_factory() as uow:
        return list(uow.audit.for_achievement(achievement_id))


def test_a_change_writes_one_event_with_who_what_when_and_before_after(world: Wiring) -> None:
    caller = demo1(world, "req-edit")
    target = first_achievement(world, caller)
    assert target.id is not None
    count = len(events(world, target.id))
    ach.edit_grade(world.uow_factory(), caller=caller, achievement_id=target.id, new_grade="Merit")
    trail = events(world, target.id)
    assert len(trail) == count + 1
    event = trail[-1]
    assert (event.username, event.user_id, event.organisation_id) == (
        "demo1.edc",
        caller.user_id,
        caller.organisation_id,
    )
    assert (event.operation, event.request_id, event.achievement_id) == ("EditGrade", "req-edit", target.id)
    assert event.at is not None
    assert json.loads(event.before or "")["Grade"] == "" and json.loads(event.after or "")["Grade"] == "Merit"


def test_a_refused_change_writes_no_event(world: Wiring) -> None:
    caller = demo1(world)
    target = first_achievement(world, caller)
    assert target.id is not None
    count = len(events(world, target.id))
    with pytest.raises(Exception, match="20"):
        ach.edit_grade(world.uow_factory(), caller=caller, achievement_id=target.id, new_grade="X" * 21)
    assert len(events(world, target.id)) == count


class FailingAuditUnitOfWork(SqlAlchemyUnitOfWork):
    """A real unit of work whose audit store refuses every write."""

    def __enter__(self) -> FailingAuditUnitOfWork:
        super().__enter__()
        self.audit = FailingAudit(self.audit)  # type: ignore[assignment]
        return self


class FailingAudit:
    def __init__(self, real: Any) -> None:
        self.real = real

    def add(self, event: model.AuditEvent) -> None:
        raise RuntimeError("audit store unavailable")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize("operation", ["edit_grade", "withdraw", "transfer", "delete", "process"])
def test_when_the_audit_write_fails_the_change_is_not_kept(world: Wiring, operation: str) -> None:
    caller = demo1(world)
    target = first_achievement(world, caller)
    assert target.id is not None

    session_factory = world.uow_factory().session_factory

    def failing_uow() -> Any:
        return FailingAuditUnitOfWork(session_factory)

    calls = {
        "edit_grade": lambda: ach.edit_grade(
            failing_uow(), caller=caller, achievement_id=target.id, new_grade="M"
        ),
        "withdraw": lambda: ach.withdraw(failing_uow(), caller=caller, achievement_id=target.id, reason="r"),
        "transfer": lambda: ach.transfer(
            failing_uow(), caller=caller, achievement_id=target.id, new_uln=JAMES
        ),
        "delete": lambda: ach.delete(failing_uow(), caller=caller, achievement_id=target.id),
        "process": lambda: edcs.process(failing_uow(), caller=caller, reference="EDC0000001"),
    }
    with world.uow_factory() as uow:
        edc_before = uow.edcs.get(1, None)
        assert edc_before is not None
    with pytest.raises(RuntimeError, match="audit store unavailable"):
        calls[operation]()
    after = first_achievement(world, caller)
    assert after.snapshot() == target.snapshot() and after.version == target.version
    with world.uow_factory() as uow:
        edc_after = uow.edcs.get(1, None)
        assert edc_after is not None and (edc_after.status, edc_after.version) == (
            edc_before.status,
            edc_before.version,
        )


def test_the_audit_port_offers_no_way_to_change_or_remove_an_event() -> None:
    public = {name for name in dir(AuditRepository) if not name.startswith("_")}
    assert public == {
        "add",
        "for_achievement",
        "page_for_achievement",
        "for_edc",
        "latest",
        "performed",
        "for_user",
    }
