"""The EDC lifecycle through the use cases, on SQLite and PostgreSQL: raising (with its e-mails in the same
transaction), processing, deciding, verification of the corrective action from the audit trail, closing."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from support.dbstate import EDC_TABLES, db_state
from support.demo import AMIRA, DEMO1_USER, JAMES, ORG1, SUPPORT_USER, TEST_LEARNER

from lrs_ws.app import Wiring
from lrs_ws.db.uow import SqlAlchemyUnitOfWork
from lrs_ws.domain import errors as e
from lrs_ws.domain import model
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.values import Page, uln_is_valid
from lrs_ws.jobs.worker import BatchWorker
from lrs_ws.service import achievements as ach
from lrs_ws.service import batch, edc_lifecycle, edcs
from lrs_ws.service.auth import Caller
from lrs_ws.service.operator import operator_caller
from lrs_ws.service.records import AchievementRecord

PAGE = Page(1, 50)


def unregistered_uln() -> str:
    """A ULN with a valid check digit that is not on the demo register."""
    return next(str(n) for n in range(2000000000, 2000001000) if uln_is_valid(str(n)))


def who(w: Wiring, username: str) -> Caller:
    return operator_caller(w.uow_factory(), username=username)


def new_achievement(
    w: Wiring,
    org_ref: str = ORG1,
    *,
    grade: str = "Pass",
    uln: str = TEST_LEARNER,
    award: date = date(2015, 6, 1),
) -> int:
    with w.uow_factory() as uow:
        org = uow.organisations.by_ref(org_ref)
        assert org is not None and org.id is not None
        a = model.Achievement(
            organisation_id=org.id,
            uln=uln,
            reference="K/501/5773",
            title="Principles of personal responsibilities and working in a business environment",
            aim_type="Unit",
            level="Level 2",
            grade=grade,
            award_date=award,
            mis_identifier=uuid.uuid4().hex[:12],
            created_at=utcnow(),
        )
        uow.achievements.add(a)
        uow.commit()
        assert a.id is not None
        return a.id


def add_user(w: Wiring, org_ref: str, username: str, roles: str, *, active: bool = True) -> str:
    email = f"{username}@{org_ref.lower()}.example"
    with w.uow_factory() as uow:
        org = uow.organisations.by_ref(org_ref)
        assert org is not None and org.id is not None
        uow.users.add(
            model.User(
                organisation_id=org.id,
                username=username,
                password_hash="x",
                email=email,
                roles=roles,
                active=active,
            )
        )
        uow.commit()
    return email


def raise_edc(
    w: Wiring,
    achievement_id: int,
    action: str = "EditGrade",
    value: str | None = "Merit",
    problem: str = "GradeIncorrect",
) -> model.EventDataChallenge:
    return edc_lifecycle.raise_edc(
        w.uow_factory(),
        caller=who(w, SUPPORT_USER),
        achievement_id=achievement_id,
        problem_type=problem,
        description="The awarding body's records show a different outcome.",
        recommended_action=action,
        supplied_value=value,
    ).edc


def accept(w: Wiring, reference: str, username: str = DEMO1_USER) -> None:
    edcs.process(w.uow_factory(), caller=who(w, username), reference=reference)
    edcs.record_decision(
        w.uow_factory(),
        caller=who(w, username),
        reference=reference,
        decision="Accepted",
        reason="Our records agree.",
    )


def close(w: Wiring, reference: str) -> model.EventDataChallenge:
    return edc_lifecycle.close_edc(w.uow_factory(), caller=who(w, SUPPORT_USER), reference=reference).edc


def achievement(w: Wiring, achievement_id: int) -> model.Achievement:
    with w.uow_factory() as uow:
        a = uow.achievements.get_any(achievement_id, _org_id(uow, ORG1))
        assert a is not None
        return a


def _org_id(uow: Any, ref: str) -> int:
    org = uow.organisations.by_ref(ref)
    assert org is not None and org.id is not None
    return int(org.id)


def edc_operations(w: Wiring, edc: model.EventDataChallenge) -> list[str]:
    with w.uow_factory() as uow:
        return [ev.operation for ev in uow.audit.for_edc(edc.id)]  # type: ignore[arg-type]


def outbox_rows(w: Wiring) -> list[tuple[str, str, str]]:
    from sqlalchemy import text

    with w.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT recipient, subject, body FROM outbox_messages"))]


# -- raising -----------------------------------------------------------------------------------------------


def test_raising_marks_the_achievement_challenged_copies_the_names_and_audits_it(
    demo_wiring: Wiring,
) -> None:
    a_id = new_achievement(demo_wiring)
    edc = raise_edc(demo_wiring, a_id)
    assert edc.status == model.EDC_NEW and edc.decision is None and not edc.action_verified
    assert (edc.uln, edc.given_name, edc.family_name) == (TEST_LEARNER, "Test", "Learner")
    assert edc.due_date == edc.raised_at.date() + timedelta(weeks=5)
    assert edc.raised_by == "lrs.support"
    assert achievement(demo_wiring, a_id).under_challenge is True
    with demo_wiring.uow_factory() as uow:
        events = uow.audit.for_edc(edc.id)  # type: ignore[arg-type]
    assert [(ev.operation, ev.username, ev.achievement_id) for ev in events] == [
        ("RaiseEventDataChallenge", "lrs.support", a_id)
    ]
    after = json.loads(events[0].after or "{}")
    assert after["RecommendedAction"] == "EditGrade" and after["SuppliedValue"] == "Merit"


def test_raising_queues_one_email_per_active_edc_user_of_the_owning_organisation(demo_wiring: Wiring) -> None:
    second = add_user(demo_wiring, "DEMO01", "demo1.second", "EDC_USER")
    add_user(demo_wiring, "DEMO01", "demo1.gone", "AO_USER,EDC_USER", active=False)
    add_user(demo_wiring, "DEMO01", "demo1.ao", "AO_USER")
    add_user(demo_wiring, "DEMO02", "demo2.second", "EDC_USER")
    edc = raise_edc(demo_wiring, new_achievement(demo_wiring))
    rows = outbox_rows(demo_wiring)
    assert sorted(r[0] for r in rows) == sorted(["demo1.edc@demo1.example", second])
    for _, subject, body in rows:
        assert edc.reference in subject and "DEMO01" in subject
        assert "EditGrade" in body and "Merit" in body and f"{edc.due_date:%Y-%m-%d}" in body


def test_the_edc_and_its_emails_are_one_transaction(demo_wiring: Wiring) -> None:
    a_id = new_achievement(demo_wiring)
    before = db_state(demo_wiring.engine, EDC_TABLES)

    class BrokenOutbox:
        def add(self, mail: Any, now: Any) -> None:
            raise RuntimeError("outbox unavailable")

    class BrokenOutboxUow(SqlAlchemyUnitOfWork):
        def __enter__(self) -> SqlAlchemyUnitOfWork:
            super().__enter__()
            self.outbox = BrokenOutbox()  # type: ignore[assignment]
            return self

    def failing_uow() -> SqlAlchemyUnitOfWork:
        return BrokenOutboxUow(demo_wiring.uow_factory().session_factory)

    with pytest.raises(RuntimeError):
        edc_lifecycle.raise_edc(
            failing_uow(),
            caller=who(demo_wiring, "lrs.support"),
            achievement_id=a_id,
            problem_type="GradeIncorrect",
            description="d",
            recommended_action="EditGrade",
            supplied_value="Merit",
        )
    assert db_state(demo_wiring.engine, EDC_TABLES) == before


def _withdrawn(w: Wiring) -> int:
    a_id = new_achievement(w)
    ach.withdraw(w.uow_factory(), caller=who(w, DEMO1_USER), achievement_id=a_id, reason="resit")
    return a_id


def _deleted(w: Wiring) -> int:
    a_id = new_achievement(w)
    ach.delete(w.uow_factory(), caller=who(w, DEMO1_USER), achievement_id=a_id)
    return a_id


REFUSALS: list[tuple[str, dict[str, Any], type[e.DomainError]]] = [
    ("an AO user raising", {"username": DEMO1_USER}, e.AccessDenied),
    ("an unknown achievement", {"achievement_id": 999999}, e.NotFound),
    ("a withdrawn achievement", {"achievement_id": _withdrawn}, e.InvalidTransition),
    ("a deleted achievement", {"achievement_id": _deleted}, e.NotFound),
    ("an unknown problem type", {"problem_type": "Typo"}, e.InvalidValue),
    ("an unknown recommended action", {"recommended_action": "Shred"}, e.InvalidValue),
    ("no description", {"description": "  "}, e.InvalidValue),
    ("EditGrade without a grade", {"supplied_value": ""}, e.InvalidValue),
    ("EditGrade with 21 characters", {"supplied_value": "D" * 21}, e.GradeTooLong),
    ("EditGrade to the current grade", {"supplied_value": "Pass"}, e.InvalidValue),
    (
        "UpdateAwardDate not as YYYY-MM-DD",
        {"recommended_action": "UpdateAwardDate", "supplied_value": "01/06/2015"},
        e.InvalidValue,
    ),
    (
        "UpdateAwardDate with no such day",
        {"recommended_action": "UpdateAwardDate", "supplied_value": "2015-02-30"},
        e.InvalidValue,
    ),
    (
        "UpdateAwardDate in the future",
        {
            "recommended_action": "UpdateAwardDate",
            "supplied_value": (date.today() + timedelta(days=2)).isoformat(),
        },
        e.FutureDate,
    ),
    (
        "UpdateAwardDate to the current date",
        {"recommended_action": "UpdateAwardDate", "supplied_value": "2015-06-01"},
        e.InvalidValue,
    ),
    (
        "TransferToLearner to an invalid ULN",
        {"recommended_action": "TransferToLearner", "supplied_value": "1234567890"},
        e.InvalidUln,
    ),
    (
        "TransferToLearner to the same ULN",
        {"recommended_action": "TransferToLearner", "supplied_value": TEST_LEARNER},
        e.SameUlnTransfer,
    ),
    (
        "TransferToLearner to a ULN not on the register",
        {"recommended_action": "TransferToLearner", "supplied_value": unregistered_uln()},
        e.LearnerNotFound,
    ),
    ("Delete with a supplied value", {"recommended_action": "Delete", "supplied_value": "x"}, e.InvalidValue),
]


@pytest.mark.parametrize(("case", "changes", "error"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_an_invalid_raise_is_refused_and_changes_nothing(
    demo_wiring: Wiring, case: str, changes: dict[str, Any], error: type[e.DomainError]
) -> None:
    args: dict[str, Any] = {
        "username": "lrs.support",
        "achievement_id": new_achievement(demo_wiring),
        "problem_type": "GradeIncorrect",
        "description": "Wrong grade",
        "recommended_action": "EditGrade",
        "supplied_value": "Merit",
    }
    args.update(changes)
    if callable(args["achievement_id"]):
        args["achievement_id"] = args["achievement_id"](demo_wiring)
    caller = who(demo_wiring, args.pop("username"))
    before = db_state(demo_wiring.engine, EDC_TABLES)
    with pytest.raises(error) as raised:
        edc_lifecycle.raise_edc(demo_wiring.uow_factory(), caller=caller, **args)
    assert type(raised.value) is error
    assert raised.value.message
    assert db_state(demo_wiring.engine, EDC_TABLES) == before


# -- the AO's side -----------------------------------------------------------------------------------------


def test_other_organisations_and_lrs_support_cannot_process_or_decide(
    demo_wiring: Wiring,
) -> None:
    edc = raise_edc(demo_wiring, new_achievement(demo_wiring))
    before = db_state(demo_wiring.engine, EDC_TABLES)
    with pytest.raises(e.NotFound):
        edcs.process(demo_wiring.uow_factory(), caller=who(demo_wiring, "demo2.edc"), reference=edc.reference)
    with pytest.raises(e.NotFound):
        edcs.record_decision(
            demo_wiring.uow_factory(),
            caller=who(demo_wiring, "demo2.edc"),
            reference=edc.reference,
            decision="Accepted",
            reason="x",
        )
    with pytest.raises(e.AccessDenied):
        edcs.process(
            demo_wiring.uow_factory(), caller=who(demo_wiring, "lrs.support"), reference=edc.reference
        )
    with pytest.raises(e.AccessDenied):
        edcs.record_decision(
            demo_wiring.uow_factory(),
            caller=who(demo_wiring, "lrs.support"),
            reference=edc.reference,
            decision="Rejected",
            reason="x",
        )
    assert db_state(demo_wiring.engine, EDC_TABLES) == before


def test_a_second_decision_is_refused_and_changes_nothing(demo_wiring: Wiring) -> None:
    edc = raise_edc(demo_wiring, new_achievement(demo_wiring))
    accept(demo_wiring, edc.reference)
    before = db_state(demo_wiring.engine, EDC_TABLES)
    with pytest.raises(e.InvalidTransition):
        edcs.record_decision(
            demo_wiring.uow_factory(),
            caller=who(demo_wiring, "demo1.edc"),
            reference=edc.reference,
            decision="Rejected",
            reason="changed our mind",
        )
    assert db_state(demo_wiring.engine, EDC_TABLES) == before


# -- closing -----------------------------------------------------------------------------------------------


def test_an_accepted_edit_grade_closes_only_once_the_grade_is_the_supplied_value(demo_wiring: Wiring) -> None:
    a_id = new_achievement(demo_wiring)
    edc = raise_edc(demo_wiring, a_id)
    accept(demo_wiring, edc.reference)
    before = db_state(demo_wiring.engine, EDC_TABLES)
    with pytest.raises(e.ActionNotVerified) as refused:
        close(demo_wiring, edc.reference)
    assert "grade changed to 'Merit'" in refused.value.message and "DEMO01" in refused.value.message
    assert db_state(demo_wiring.engine, EDC_TABLES) == before

    demo1 = who(demo_wiring, "demo1.edc")
    ach.edit_grade(demo_wiring.uow_factory(), caller=demo1, achievement_id=a_id, new_grade="Distinction")
    with pytest.raises(e.ActionNotVerified):
        close(demo_wiring, edc.reference)
    ach.edit_grade(demo_wiring.uow_factory(), caller=demo1, achievement_id=a_id, new_grade="Merit")

    listed = edcs.list_edcs(demo_wiring.uow_factory(), caller=demo1, status="InProgress", page=PAGE)
    assert {x.reference: x.action_verified for x in listed.items}[edc.reference] is True

    closed = close(demo_wiring, edc.reference)
    assert closed.status == model.EDC_COMPLETE and closed.resolved_at is not None
    assert achievement(demo_wiring, a_id).under_challenge is False
    assert edc_operations(demo_wiring, edc) == [
        "RaiseEventDataChallenge",
        "ProcessEventDataChallenge",
        "RecordEventDataChallengeDecision",
        "EventDataChallengeActionVerified",
        "CloseEventDataChallenge",
    ]


def test_processing_shows_whether_the_action_is_verified(demo_wiring: Wiring) -> None:
    a_id = new_achievement(demo_wiring)
    edc = raise_edc(demo_wiring, a_id)
    accept(demo_wiring, edc.reference)
    demo1 = who(demo_wiring, "demo1.edc")
    assert (
        edcs.process(demo_wiring.uow_factory(), caller=demo1, reference=edc.reference).edc.action_verified
        is False
    )
    ach.edit_grade(demo_wiring.uow_factory(), caller=demo1, achievement_id=a_id, new_grade="Merit")
    assert (
        edcs.process(demo_wiring.uow_factory(), caller=demo1, reference=edc.reference).edc.action_verified
        is True
    )


def test_an_action_taken_before_the_decision_does_not_count(demo_wiring: Wiring) -> None:
    a_id = new_achievement(demo_wiring)
    edc = raise_edc(demo_wiring, a_id)
    ach.edit_grade(
        demo_wiring.uow_factory(),
        caller=who(demo_wiring, "demo1.edc"),
        achievement_id=a_id,
        new_grade="Merit",
    )
    accept(demo_wiring, edc.reference)
    with pytest.raises(e.ActionNotVerified):
        close(demo_wiring, edc.reference)


def test_a_grade_edited_to_the_supplied_value_and_back_is_not_verified(demo_wiring: Wiring) -> None:
    a_id = new_achievement(demo_wiring)
    edc = raise_edc(demo_wiring, a_id)
    accept(demo_wiring, edc.reference)
    demo1 = who(demo_wiring, "demo1.edc")
    ach.edit_grade(demo_wiring.uow_factory(), caller=demo1, achievement_id=a_id, new_grade="Merit")
    ach.edit_grade(demo_wiring.uow_factory(), caller=demo1, achievement_id=a_id, new_grade="Pass")
    with pytest.raises(e.ActionNotVerified) as refused:
        close(demo_wiring, edc.reference)
    assert "no longer shows it" in refused.value.message


def test_an_accepted_transfer_is_verified_only_for_the_supplied_uln(demo_wiring: Wiring) -> None:
    a_id = new_achievement(demo_wiring)
    edc = raise_edc(demo_wiring, a_id, "TransferToLearner", JAMES, "NotLearnersAchievement")
    accept(demo_wiring, edc.reference)
    demo1 = who(demo_wiring, "demo1.edc")
    ach.transfer(demo_wiring.uow_factory(), caller=demo1, achievement_id=a_id, new_uln=AMIRA)
    with pytest.raises(e.ActionNotVerified):
        close(demo_wiring, edc.reference)
    ach.transfer(demo_wiring.uow_factory(), caller=demo1, achievement_id=a_id, new_uln=JAMES)
    assert close(demo_wiring, edc.reference).status == model.EDC_COMPLETE
    assert achievement(demo_wiring, a_id).uln == JAMES


@pytest.mark.parametrize("action", ["Delete", "Withdraw"])
def test_an_accepted_delete_or_withdraw_is_verified_once_done(demo_wiring: Wiring, action: str) -> None:
    a_id = new_achievement(demo_wiring)
    edc = raise_edc(demo_wiring, a_id, action, None, "Duplicate")
    accept(demo_wiring, edc.reference)
    with pytest.raises(e.ActionNotVerified):
        close(demo_wiring, edc.reference)
    demo1 = who(demo_wiring, "demo1.edc")
    if action == "Delete":
        ach.delete(demo_wiring.uow_factory(), caller=demo1, achievement_id=a_id)
    else:
        ach.withdraw(demo_wiring.uow_factory(), caller=demo1, achievement_id=a_id, reason="duplicate")
    closed = close(demo_wiring, edc.reference)
    assert closed.status == model.EDC_COMPLETE
    a = achievement(demo_wiring, a_id)
    assert (a.deleted if action == "Delete" else a.withdrawn) is True
    assert a.under_challenge is False


def test_an_award_date_corrected_by_a_batch_update_is_verified(demo_wiring: Wiring) -> None:
    """There is no single-record award-date edit: the AO sends an Update record in a batch (seed 3.2)."""
    a_id = new_achievement(demo_wiring)
    edc = raise_edc(demo_wiring, a_id, "UpdateAwardDate", "2015-07-01", "AwardDateIncorrect")
    accept(demo_wiring, edc.reference)
    with pytest.raises(e.ActionNotVerified) as refused:
        close(demo_wiring, edc.reference)
    assert "award date updated to 2015-07-01" in refused.value.message

    update = AchievementRecord(
        AchievementAwardDate=date(2015, 7, 1),
        Action=2,
        GivenName="Test",
        FamilyName="Learner",
        Grade="Pass",
        MisIdentifier=achievement(demo_wiring, a_id).mis_identifier,
        ProviderUkprn="10000001",
        Uln=TEST_LEARNER,
        UnitOrQualificationReferenceNumber="K/501/5773",
    )
    batch.submit(
        demo_wiring.uow_factory(),
        caller=who(demo_wiring, "demo1.edc"),
        email="mi@demo1.example",
        submission_type="Final",
        achievements=[update],
        max_achievements=10,
        max_queued_records=100_000,
    )
    BatchWorker(demo_wiring, threading.Event()).run(once=True)
    assert achievement(demo_wiring, a_id).award_date == date(2015, 7, 1)
    assert close(demo_wiring, edc.reference).status == model.EDC_COMPLETE


def test_a_rejected_edc_closes_at_once(demo_wiring: Wiring) -> None:
    a_id = new_achievement(demo_wiring)
    edc = raise_edc(demo_wiring, a_id)
    demo1 = who(demo_wiring, "demo1.edc")
    edcs.record_decision(
        demo_wiring.uow_factory(),
        caller=demo1,
        reference=edc.reference,
        decision="Rejected",
        reason="The grade on file is right.",
    )
    closed = close(demo_wiring, edc.reference)
    assert closed.status == model.EDC_COMPLETE and closed.decision == model.REJECTED
    assert closed.resolved_at is not None and closed.action_verified is False
    assert achievement(demo_wiring, a_id).under_challenge is False


def test_closing_undecided_twice_or_as_an_ao_user_is_refused_and_changes_nothing(demo_wiring: Wiring) -> None:
    edc = raise_edc(demo_wiring, new_achievement(demo_wiring))
    before = db_state(demo_wiring.engine, EDC_TABLES)
    with pytest.raises(e.InvalidTransition, match="no decision"):
        close(demo_wiring, edc.reference)
    with pytest.raises(e.AccessDenied):
        edc_lifecycle.close_edc(
            demo_wiring.uow_factory(), caller=who(demo_wiring, "demo1.edc"), reference=edc.reference
        )
    with pytest.raises(e.NotFound):
        close(demo_wiring, "EDC9999999")
    assert db_state(demo_wiring.engine, EDC_TABLES) == before

    edcs.record_decision(
        demo_wiring.uow_factory(),
        caller=who(demo_wiring, "demo1.edc"),
        reference=edc.reference,
        decision="Rejected",
        reason="no",
    )
    close(demo_wiring, edc.reference)
    before = db_state(demo_wiring.engine, EDC_TABLES)
    with pytest.raises(e.InvalidTransition, match="already Complete"):
        close(demo_wiring, edc.reference)
    with pytest.raises(e.InvalidTransition):
        edcs.record_decision(
            demo_wiring.uow_factory(),
            caller=who(demo_wiring, "demo1.edc"),
            reference=edc.reference,
            decision="Accepted",
            reason="after all",
        )
    assert db_state(demo_wiring.engine, EDC_TABLES) == before


def test_the_achievement_stays_under_challenge_while_another_edc_is_open(demo_wiring: Wiring) -> None:
    a_id = new_achievement(demo_wiring)
    first = raise_edc(demo_wiring, a_id)
    second = raise_edc(demo_wiring, a_id, "Withdraw", None, "NotCompleted")
    demo1 = who(demo_wiring, "demo1.edc")
    for edc in (first, second):
        edcs.record_decision(
            demo_wiring.uow_factory(), caller=demo1, reference=edc.reference, decision="Rejected", reason="no"
        )
    close(demo_wiring, first.reference)
    assert achievement(demo_wiring, a_id).under_challenge is True
    close(demo_wiring, second.reference)
    assert achievement(demo_wiring, a_id).under_challenge is False
