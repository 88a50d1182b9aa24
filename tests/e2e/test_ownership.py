"""Ownership matrix: every operation x {own record, other AO's record, missing record}, called with DEMO02's
credentials (an AO_ADMIN of DEMO02's for the user-management operations). Another AO's record answers exactly
like a missing one (same ErrorCode, same message once the id is blanked out) and changes nothing: no
existence leak."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from support.dbstate import RECORD_TABLES, db_state
from support.demo import GRACE, JAMES, ORG2
from support.records import add_edc, add_learner, create, create_id, max_id
from support.soap import DEMO1, DEMO1_ADMIN, DEMO2, DEMO_PASSWORD, expect_fault, fault_message
from zeep.exceptions import Fault

from lrs_ws.domain import model
from lrs_ws.domain.values import Page
from lrs_ws.service import admin


@dataclass(frozen=True)
class Op:
    """One id-based operation: `prepare(soap, wiring, owner)` makes a record on which `call` would succeed
    for its owner; `call(soap, user, key)` performs the operation."""

    prepare: Callable[[Any, Any, dict[str, str]], Any]
    call: Callable[[Any, dict[str, str], Any], Any]
    table: str


def _achievement(soap: Any, _wiring: Any, owner: dict[str, str]) -> int:
    return create_id(soap, owner, grade="Pass")


def _withdrawn(soap: Any, wiring: Any, owner: dict[str, str]) -> int:
    achievement_id = _achievement(soap, wiring, owner)
    soap.WithdrawAchievement(invokingUser=owner, achievementId=achievement_id, reason="error")
    return achievement_id


def _new_edc(soap: Any, wiring: Any, owner: dict[str, str]) -> str:
    return add_edc(wiring, _achievement(soap, wiring, owner))


OPS: dict[str, Op] = {
    "GetAchievement": Op(
        _achievement, lambda s, u, k: s.GetAchievement(invokingUser=u, achievementId=k), "achievements"
    ),
    "EditAchievementGrade": Op(
        _achievement,
        lambda s, u, k: s.EditAchievementGrade(invokingUser=u, achievementId=k, newGrade="Merit"),
        "achievements",
    ),
    "DeleteAchievement": Op(
        _achievement, lambda s, u, k: s.DeleteAchievement(invokingUser=u, achievementId=k), "achievements"
    ),
    "TransferAchievement": Op(
        _achievement,
        lambda s, u, k: s.TransferAchievement(invokingUser=u, achievementId=k, newUln=JAMES),
        "achievements",
    ),
    "WithdrawAchievement": Op(
        _achievement,
        lambda s, u, k: s.WithdrawAchievement(invokingUser=u, achievementId=k, reason="error"),
        "achievements",
    ),
    "ReinstateAchievement": Op(
        _withdrawn, lambda s, u, k: s.ReinstateAchievement(invokingUser=u, achievementId=k), "achievements"
    ),
    "GetAchievementHistory": Op(
        _achievement, lambda s, u, k: s.GetAchievementHistory(invokingUser=u, achievementId=k), "achievements"
    ),
    "ProcessEventDataChallenge": Op(
        _new_edc,
        lambda s, u, k: s.ProcessEventDataChallenge(invokingUser=u, reference=k),
        "event_data_challenges",
    ),
    "RecordEventDataChallengeDecision": Op(
        _new_edc,
        lambda s, u, k: s.RecordEventDataChallengeDecision(
            invokingUser=u, reference=k, decision="Accepted", reason="agreed"
        ),
        "event_data_challenges",
    ),
}


def missing_key(wiring: Any, op: Op) -> Any:
    number = max_id(wiring, op.table) + 1000
    return model.format_edc_reference(number) if op.table == "event_data_challenges" else number


def refusal(soap: Any, wiring: Any, op: Op, key: Any) -> tuple[str, str]:
    """(ErrorCode, message with the key blanked out) of a refused call that changed nothing."""
    before = db_state(wiring.engine, RECORD_TABLES)
    with pytest.raises(Fault) as caught:
        op.call(soap, DEMO2, key)
    assert db_state(wiring.engine, RECORD_TABLES) == before
    code = caught.value.detail.findtext(".//{http://api.lrs.qcf.gov.uk/faults}ErrorCode")
    return code, fault_message(caught.value).replace(str(key), "<key>")


@pytest.mark.parametrize("name", list(OPS))
def test_own_record_is_served(soap: Any, live_wiring: Any, name: str) -> None:
    op = OPS[name]
    key = op.prepare(soap, live_wiring, DEMO2)
    assert op.call(soap, DEMO2, key) is not None


@pytest.mark.parametrize("name", list(OPS))
def test_another_aos_record_answers_exactly_like_a_missing_one(
    soap: Any, live_wiring: Any, name: str
) -> None:
    op = OPS[name]
    theirs = op.prepare(soap, live_wiring, DEMO1)
    other = refusal(soap, live_wiring, op, theirs)
    missing = refusal(soap, live_wiring, op, missing_key(live_wiring, op))
    assert other == missing
    assert other[0] == "WSEC0105"
    # ... and the owner can still do it: the refusal was about ownership, not the record's state.
    assert op.call(soap, DEMO1, theirs) is not None


def test_a_deleted_achievement_of_another_ao_answers_like_a_missing_one(soap: Any, live_wiring: Any) -> None:
    theirs = create_id(soap, DEMO1)
    soap.DeleteAchievement(invokingUser=DEMO1, achievementId=theirs)
    op = OPS["GetAchievementHistory"]
    assert refusal(soap, live_wiring, op, theirs) == refusal(
        soap, live_wiring, op, missing_key(live_wiring, op)
    )


# -- operations keyed by ULN or listing the organisation's records ----------------------------------------


def _summaries(result: Any) -> list[Any]:
    return list(result.Achievements.AchievementSummary) if result.Achievements else []


def test_a_learners_achievements_are_only_the_callers_aos(soap: Any, live_wiring: Any) -> None:
    uln = add_learner(live_wiring, "Both", "Aos")
    ours = create_id(soap, DEMO2, uln=uln, names=("Both", "Aos"))
    theirs = create_id(soap, DEMO1, uln=uln, names=("Both", "Aos"))
    seen = soap.GetLearnerAchievements(invokingUser=DEMO2, uln=uln)
    assert seen.TotalCount == 1 and [a.AchievementId for a in _summaries(seen)] == [ours]
    assert theirs in [
        a.AchievementId for a in _summaries(soap.GetLearnerAchievements(invokingUser=DEMO1, uln=uln))
    ]


def test_a_learner_with_only_another_aos_achievements_looks_like_one_with_none(
    soap: Any, live_wiring: Any
) -> None:
    only_theirs = add_learner(live_wiring, "Only", "Theirs")
    create_id(soap, DEMO1, uln=only_theirs, names=("Only", "Theirs"))
    nothing = add_learner(live_wiring, "Only", "Theirs")
    a = soap.GetLearnerAchievements(invokingUser=DEMO2, uln=only_theirs)
    b = soap.GetLearnerAchievements(invokingUser=DEMO2, uln=nothing)
    assert (a.TotalCount, a.Achievements, a.GivenName, a.FamilyName) == (
        b.TotalCount,
        b.Achievements,
        b.GivenName,
        b.FamilyName,
    )
    assert a.TotalCount == 0


def test_the_edc_list_holds_only_the_callers_aos_edcs(soap: Any, live_wiring: Any) -> None:
    ours = add_edc(live_wiring, create_id(soap, DEMO2))
    theirs = add_edc(live_wiring, create_id(soap, DEMO1))
    seen = soap.ListEventDataChallenges(invokingUser=DEMO2, pageSize=500)
    references = [e.Reference for e in seen.EventDataChallenges.EventDataChallenge]
    assert ours in references and theirs not in references
    with live_wiring.uow_factory() as uow:
        demo2 = uow.organisations.by_ref("DEMO02")
        assert demo2 is not None
        assert seen.TotalCount == uow.edcs.list(demo2.id, None, Page(1, 1))[0]


def test_find_learner_reads_the_shared_register_whoever_holds_the_achievements(
    soap: Any, live_wiring: Any
) -> None:
    """Learners belong to the register, not to an AO: a transfer target is found whoever awarded what."""
    uln = add_learner(live_wiring, "Reg", "Ister")
    create_id(soap, DEMO1, uln=uln, names=("Reg", "Ister"))
    assert soap.FindLearnerByUln(invokingUser=DEMO2, uln=uln).FamilyName == "Ister"


def test_an_identical_achievement_of_another_ao_is_no_duplicate(soap: Any, live_wiring: Any) -> None:
    theirs = create(soap, DEMO1, uln=GRACE)
    record = dict(uln=GRACE, mis=theirs.MisIdentifier)
    ours = create(soap, DEMO2, **record)
    assert ours.AchievementId != theirs.AchievementId
    before = db_state(live_wiring.engine, RECORD_TABLES)
    expect_fault("WSEC0108", create, soap, DEMO2, **record)  # a duplicate of its own is refused
    assert db_state(live_wiring.engine, RECORD_TABLES) == before


# -- user management by an AO_ADMIN: keyed by user name ------------------------------------------------------

DEMO2_ADMIN = {"UserName": "demo2.admin.matrix", "OrgPassword": DEMO_PASSWORD, "OrganisationRef": ORG2}


@pytest.fixture(scope="module")
def demo2_admin(live_wiring: Any) -> dict[str, str]:
    """An AO_ADMIN of DEMO02 (the demo data has one only in DEMO01)."""
    with live_wiring.uow_factory() as uow:
        exists = uow.users.by_username(DEMO2_ADMIN["UserName"]) is not None
    if not exists:
        admin.add_user(
            live_wiring.uow_factory(),
            organisation_ref=ORG2,
            username=DEMO2_ADMIN["UserName"],
            password=DEMO_PASSWORD,
            email="admin@demo2.example",
            roles=["AO_ADMIN"],
        )
    return DEMO2_ADMIN


def _member(soap: Any, owner: dict[str, str]) -> str:
    name = f"matrix.{uuid.uuid4().hex[:10]}"
    soap.AddUser(invokingUser=owner, userName=name, emailAddress=f"{name}@matrix.example", roles="AO_USER")
    return name


def _deactivated_member(soap: Any, owner: dict[str, str]) -> str:
    name = _member(soap, owner)
    soap.DeactivateUser(invokingUser=owner, userName=name)
    return name


Prepare = Callable[[Any, dict[str, str]], str]
USER_OPS: dict[str, tuple[Prepare, Callable[[Any, dict[str, str], str], Any]]] = {
    "SetUserRoles": (_member, lambda s, u, k: s.SetUserRoles(invokingUser=u, userName=k, roles="EDC_USER")),
    "DeactivateUser": (_member, lambda s, u, k: s.DeactivateUser(invokingUser=u, userName=k)),
    "ReactivateUser": (_deactivated_member, lambda s, u, k: s.ReactivateUser(invokingUser=u, userName=k)),
    "UnlockUser": (_member, lambda s, u, k: s.UnlockUser(invokingUser=u, userName=k)),
    "GetUserHistory": (_member, lambda s, u, k: s.GetUserHistory(invokingUser=u, userName=k)),
}


def user_refusal(soap: Any, wiring: Any, call: Any, caller: dict[str, str], name: str) -> tuple[str, str]:
    """(ErrorCode, message with the user name blanked out) of a refused call that changed no table."""
    before = db_state(wiring.engine)
    with pytest.raises(Fault) as caught:
        call(soap, caller, name)
    assert db_state(wiring.engine) == before
    code = caught.value.detail.findtext(".//{http://api.lrs.qcf.gov.uk/faults}ErrorCode")
    return code, fault_message(caught.value).replace(name, "<key>")


@pytest.mark.parametrize("name", list(USER_OPS))
def test_an_admins_own_organisations_user_is_served(
    soap: Any, live_wiring: Any, demo2_admin: dict[str, str], name: str
) -> None:
    prepare, call = USER_OPS[name]
    assert call(soap, demo2_admin, prepare(soap, demo2_admin)) is not None


@pytest.mark.parametrize("name", list(USER_OPS))
def test_another_aos_user_answers_exactly_like_a_missing_one(
    soap: Any, live_wiring: Any, demo2_admin: dict[str, str], name: str
) -> None:
    prepare, call = USER_OPS[name]
    theirs = prepare(soap, DEMO1_ADMIN)
    other = user_refusal(soap, live_wiring, call, demo2_admin, theirs)
    missing = user_refusal(soap, live_wiring, call, demo2_admin, f"matrix.missing.{uuid.uuid4().hex[:8]}")
    assert other == missing
    assert other[0] == "WSEC0105"
    assert call(soap, DEMO1_ADMIN, theirs) is not None


def test_an_admins_user_list_holds_only_its_organisations_users(
    soap: Any, live_wiring: Any, demo2_admin: dict[str, str]
) -> None:
    ours, theirs = _member(soap, demo2_admin), _member(soap, DEMO1_ADMIN)
    listed = {u.UserName for u in soap.ListUsers(invokingUser=demo2_admin, pageSize=500).Users.UserSummary}
    assert ours in listed and theirs not in listed and "demo1.edc" not in listed
    with live_wiring.uow_factory() as uow:
        demo2 = uow.organisations.by_ref("DEMO02")
        assert demo2 is not None
        assert {u.username for u in uow.users.listed(demo2.id)} == listed
