"""User management by an organisation's AO_ADMIN over SOAP, against the live server on both backends: each
operation, each refusal (with every table unchanged), the one-time token e-mailed by `lrs-ws mail deliver`
and used with SetPassword, and who gets an EDC's e-mail. Each test works in an organisation of its own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from support.dbstate import db_state
from support.demo import DEMO2_USER
from support.records import create_id
from support.server import LiveServer
from support.smtp import SmtpServer
from support.soap import DEMO1, DEMO1_ADMIN, DEMO2, LRS, client_for, expect_fault, fault_message

from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.passwords import token_digest
from lrs_ws.service import admin

LRS_WS = Path(sys.executable).with_name("lrs-ws")
PASSWORD = "Admin-Password-42"
NEW_PASSWORD = "Kettle-Ridge-Seven"
FAILURE_LIMIT = 3
TOKEN_LINE = re.compile(r"^    (\S{40,})\r?$", re.MULTILINE)


@dataclass(frozen=True)
class Org:
    ref: str
    admin: dict[str, str]

    def user(self, stem: str) -> str:
        return f"{stem}.{self.ref.lower()}"


def new_org(wiring: Any, *, roles: tuple[str, ...] = ("AO_ADMIN",)) -> Org:
    """An organisation of its own with one AO_ADMIN (added by an operator, with a password)."""
    ref = "U" + uuid.uuid4().hex[:5].upper()
    admin.add_organisation(
        wiring.uow_factory(), ref=ref, name=f"Org {ref}", ukprn="10000009", batch_enabled=False
    )
    name = f"admin.{ref.lower()}"
    admin.add_user(
        wiring.uow_factory(),
        organisation_ref=ref,
        username=name,
        password=PASSWORD,
        email=f"{name}@{ref.lower()}.example",
        roles=roles,
    )
    return Org(ref, {"UserName": name, "OrgPassword": PASSWORD, "OrganisationRef": ref})


def with_password(org: Org, wiring: Any, stem: str, roles: str) -> dict[str, str]:
    """A user of the organisation with a known password (added by an operator)."""
    name = org.user(stem)
    admin.add_user(
        wiring.uow_factory(),
        organisation_ref=org.ref,
        username=name,
        password=PASSWORD,
        email=f"{name}@{org.ref.lower()}.example",
        roles=roles.split(","),
    )
    return {"UserName": name, "OrgPassword": PASSWORD, "OrganisationRef": org.ref}


@pytest.fixture
def org(live_wiring: Any) -> Org:
    return new_org(live_wiring)


def refused(wiring: Any, code: str, call: Any, **kwargs: Any) -> str:
    """Assert the call fails with `code` and no table changed; returns the fault's message."""
    before = db_state(wiring.engine)
    fault = expect_fault(code, call, **kwargs)
    assert db_state(wiring.engine) == before
    return fault_message(fault)


def refused_as_a_failed_login(wiring: Any, code: str, call: Any, **kwargs: Any) -> str:
    """Assert the call fails with `code`, is counted as one failed login (throttling) and changes nothing
    else; returns the fault's message."""
    before = db_state(wiring.engine)
    fault = expect_fault(code, call, **kwargs)
    after = db_state(wiring.engine)
    # Recording a failure purges those older than the window: earlier tests' failures may go meanwhile.
    assert len(set(after.pop("login_failures")) - set(before.pop("login_failures"))) == 1
    assert after == before
    return fault_message(fault)


def add(soap: Any, org: Org, stem: str, roles: str = "AO_USER") -> str:
    name = org.user(stem)
    soap.AddUser(
        invokingUser=org.admin, userName=name, emailAddress=f"{name}@{org.ref.lower()}.example", roles=roles
    )
    return name


def history(soap: Any, org: Org, name: str) -> list[tuple[str, str, Any, Any]]:
    found = soap.GetUserHistory(invokingUser=org.admin, userName=name)
    events = list(found.Events.AuditEntry) if found.Events else []
    assert found.TotalCount == len(events) and found.UserName == name
    return [
        (e.UserName, e.Operation, json.loads(e.Before) if e.Before else None, json.loads(e.After))
        for e in events
    ]


def outbox_to(wiring: Any, address: str) -> list[Any]:
    with wiring.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT subject, body FROM outbox_messages WHERE recipient = :r ORDER BY id"),
                {"r": address},
            )
        )


def deliver_mail(database_url: str, smtp: SmtpServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env.update({"LRS_WS_DATABASE_URL": database_url, "LRS_WS_SMTP_URL": smtp.url})
    done = subprocess.run(
        [str(LRS_WS), "mail", "deliver"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


# -- ListUsers -------------------------------------------------------------------------------------------


def test_the_demo_admin_lists_its_organisations_users_and_no_others(soap: Any) -> None:
    found = soap.ListUsers(invokingUser=DEMO1_ADMIN, pageSize=500)
    users = {u.UserName: u for u in found.Users.UserSummary}
    assert found.TotalCount == len(users) and {"demo1.admin", "demo1.edc"} <= set(users)
    assert "demo2.edc" not in users and "lrs.support" not in users
    edc = users["demo1.edc"]
    assert (edc.EmailAddress, edc.Roles, edc.Active, edc.LockedOut) == (
        "demo1.edc@demo1.example",
        "AO_USER,EDC_USER",
        True,
        False,
    )
    in_order = [u.UserName for u in found.Users.UserSummary]
    paged = [soap.ListUsers(invokingUser=DEMO1_ADMIN, pageNumber=n, pageSize=1) for n in (1, 2)]
    assert [p.Users.UserSummary[0].UserName for p in paged] == in_order[:2]
    assert {p.TotalCount for p in paged} == {found.TotalCount}


@pytest.mark.parametrize("caller", [DEMO1, LRS], ids=["edc-user", "lrs-support"])
def test_every_user_operation_needs_the_ao_admin_role(soap: Any, live_wiring: Any, caller: Any) -> None:
    for call, kwargs in [
        (soap.ListUsers, {}),
        (
            soap.AddUser,
            {"userName": f"x.{uuid.uuid4().hex[:8]}", "emailAddress": "x@x.example", "roles": "AO_USER"},
        ),
        (soap.SetUserRoles, {"userName": "demo1.edc", "roles": "AO_USER"}),
        (soap.DeactivateUser, {"userName": "demo1.edc"}),
        (soap.ReactivateUser, {"userName": "demo1.edc"}),
        (soap.UnlockUser, {"userName": "demo1.edc"}),
        (soap.GetUserHistory, {"userName": "demo1.edc"}),
    ]:
        message = refused(live_wiring, "WSEC0006", call, invokingUser=caller, **kwargs)
        assert "your roles do not allow" in message


def test_list_paging_outside_the_limits_is_refused(soap: Any, live_wiring: Any) -> None:
    refused(live_wiring, "WSEC0103", soap.ListUsers, invokingUser=DEMO1_ADMIN, pageSize=501)
    refused(live_wiring, "WSEC0103", soap.ListUsers, invokingUser=DEMO1_ADMIN, pageNumber=0)


# -- AddUser and the one-time token ------------------------------------------------------------------------


def test_an_added_user_gets_its_token_by_e_mail_sets_its_password_and_logs_in_with_it_once(
    soap: Any, live_wiring: Any, live_server: LiveServer, org: Org
) -> None:
    name = org.user("new")
    address = f"{name}@{org.ref.lower()}.example"
    added = soap.AddUser(
        invokingUser=org.admin, userName=name, emailAddress=address, roles="edc_user,AO_USER"
    )
    assert (added.UserName, added.EmailAddress, added.Roles, added.Active, added.LockedOut) == (
        name,
        address,
        "AO_USER,EDC_USER",
        True,
        False,
    )
    me = {"UserName": name, "OrgPassword": NEW_PASSWORD, "OrganisationRef": org.ref}
    refused_as_a_failed_login(live_wiring, "WSEC0003", soap.ListEventDataChallenges, invokingUser=me)
    smtp = SmtpServer().start()
    try:
        deliver_mail(live_server.database_url, smtp)
        mails = [m for m in smtp.received if m["To"] == address]
    finally:
        smtp.stop()
    assert len(mails) == 1 and name in str(mails[0]["Subject"])
    body = mails[0].get_content()
    tokens = TOKEN_LINE.findall(body)
    assert len(tokens) == 1, body
    token = tokens[0]
    assert token not in str(mails[0]["Subject"])
    with live_wiring.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT token_digest, used_at FROM password_tokens t JOIN users u "
                "ON u.id = t.user_id WHERE u.username = :n"
            ),
            {"n": name},
        ).one()
    assert tuple(stored) == (token_digest(token), None)

    done = soap.SetPassword(token=token, newPassword=NEW_PASSWORD)
    assert (done.ResponseCode, done.UserName) == ("WSRC0000", name)
    assert soap.ListEventDataChallenges(invokingUser=me).TotalCount == 0

    refused_as_a_failed_login(
        live_wiring, "WSEC0141", soap.SetPassword, token=token, newPassword="Another-Password-9"
    )
    assert soap.ListEventDataChallenges(invokingUser=me).TotalCount == 0
    operations = [(who, op) for who, op, _b, _a in history(soap, org, name)]
    assert operations == [(org.admin["UserName"], "AddUser"), (name, "SetPassword")]


def test_adding_a_user_stores_only_the_tokens_digest_and_audits_without_a_secret(
    soap: Any, live_wiring: Any, org: Org
) -> None:
    name = add(soap, org, "audited", "AO_USER")
    [(subject, body)] = outbox_to(live_wiring, f"{name}@{org.ref.lower()}.example")
    [token] = TOKEN_LINE.findall(body)
    dump = json.dumps(
        {
            t: [repr(r) for r in rows]
            for t, rows in db_state(live_wiring.engine).items()
            if t != "outbox_messages"
        }
    )
    assert token not in dump and token_digest(token) in dump and token not in subject
    [(who, operation, before, after)] = history(soap, org, name)
    assert (who, operation, before) == (org.admin["UserName"], "AddUser", None)
    assert after["Roles"] == "AO_USER" and after["Active"] is True and "PasswordTokenExpires" in after
    assert token not in json.dumps(after)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("roles", "LRS_SUPPORT", "WSEC0103"),
        ("roles", "AO_USER,SUPERUSER", "WSEC0103"),
        ("roles", ",", "WSEC0103"),
        ("emailAddress", "a@x.example, b@x.example", "WSEC0103"),
        ("userName", "  ", "WSEC0103"),
        ("userName", DEMO2_USER, "WSEC0103"),
    ],
)
def test_a_bad_new_user_is_refused_and_nothing_is_stored(
    soap: Any, live_wiring: Any, org: Org, field: str, value: str, code: str
) -> None:
    request = {"userName": org.user("bad"), "emailAddress": "bad@x.example", "roles": "AO_USER", field: value}
    refused(live_wiring, code, soap.AddUser, invokingUser=org.admin, **request)


# -- SetPassword -----------------------------------------------------------------------------------------


def token_of(wiring: Any, org: Org, name: str) -> str:
    [(_subject, body)] = outbox_to(wiring, f"{name}@{org.ref.lower()}.example")
    [token] = TOKEN_LINE.findall(body)
    return token


def test_a_password_breaking_a_rule_is_refused_and_the_token_still_works(
    soap: Any, live_wiring: Any, org: Org
) -> None:
    name = add(soap, org, "rules")
    token = token_of(live_wiring, org, name)
    messages = {
        bad: refused(live_wiring, "WSEC0142", soap.SetPassword, token=token, newPassword=bad)
        for bad in ("Short-1", name.upper(), "Password1234")
    }
    assert "at least 12 characters" in messages["Short-1"]
    assert "user name" in messages[name.upper()] and "too common" in messages["Password1234"]
    assert all("Short-1" not in m and "Password1234" not in m for m in messages.values())
    assert soap.SetPassword(token=token, newPassword=NEW_PASSWORD).UserName == name


def test_an_unknown_expired_or_deactivated_users_token_is_refused_alike(
    soap: Any, live_wiring: Any, org: Org
) -> None:
    expired, deactivated = add(soap, org, "expired"), add(soap, org, "deactivated")
    with live_wiring.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE password_tokens SET expires_at = :t WHERE user_id = "
                "(SELECT id FROM users WHERE username = :n)"
            ),
            {"t": utcnow() - timedelta(seconds=1), "n": expired},
        )
    soap.DeactivateUser(invokingUser=org.admin, userName=deactivated)
    answers = set()
    tokens = ("not-a-token", token_of(live_wiring, org, expired), token_of(live_wiring, org, deactivated))
    for token in tokens:
        answers.add(
            refused_as_a_failed_login(
                live_wiring, "WSEC0141", soap.SetPassword, token=token, newPassword=NEW_PASSWORD
            )
        )
    assert len(answers) == 1 and "unknown, already used or expired" in answers.pop()


# -- SetUserRoles ----------------------------------------------------------------------------------------


def test_an_admin_nominates_and_un_nominates_an_edc_user_and_each_change_is_audited(
    soap: Any, live_wiring: Any, org: Org
) -> None:
    name = add(soap, org, "nominee", "AO_USER")
    assert soap.SetUserRoles(invokingUser=org.admin, userName=name, roles="AO_USER,EDC_USER").Roles == (
        "AO_USER,EDC_USER"
    )
    same = db_state(live_wiring.engine)
    assert soap.SetUserRoles(invokingUser=org.admin, userName=name, roles="EDC_USER,AO_USER").Roles == (
        "AO_USER,EDC_USER"
    )
    assert db_state(live_wiring.engine) == same  # nothing to change: nothing written
    assert soap.SetUserRoles(invokingUser=org.admin, userName=name, roles="AO_USER").Roles == "AO_USER"
    changes = [(op, b["Roles"], a["Roles"]) for _w, op, b, a in history(soap, org, name) if b]
    assert changes == [
        ("SetUserRoles", "AO_USER", "AO_USER,EDC_USER"),
        ("SetUserRoles", "AO_USER,EDC_USER", "AO_USER"),
    ]


def test_roles_an_admin_cannot_give_are_refused(soap: Any, live_wiring: Any, org: Org) -> None:
    name = add(soap, org, "plain")
    for roles in ("LRS_SUPPORT", "AO_USER,LRS_SUPPORT", "", "AO_USER;EDC_USER"):
        refused(
            live_wiring, "WSEC0103", soap.SetUserRoles, invokingUser=org.admin, userName=name, roles=roles
        )


def test_the_last_admin_cannot_remove_its_own_admin_role_until_there_is_another(
    soap: Any, live_wiring: Any, org: Org
) -> None:
    me = org.admin["UserName"]
    message = refused(
        live_wiring, "WSEC0140", soap.SetUserRoles, invokingUser=org.admin, userName=me, roles="AO_USER"
    )
    assert "last active AO_ADMIN" in message
    second = add(soap, org, "second", "AO_ADMIN")
    # An inactive AO_ADMIN does not count.
    soap.DeactivateUser(invokingUser=org.admin, userName=second)
    refused(live_wiring, "WSEC0140", soap.SetUserRoles, invokingUser=org.admin, userName=me, roles="AO_USER")
    # An active one does, even before it has set its password: the first may now step down.
    soap.ReactivateUser(invokingUser=org.admin, userName=second)
    assert soap.SetUserRoles(invokingUser=org.admin, userName=me, roles="AO_USER").Roles == "AO_USER"
    refused(live_wiring, "WSEC0006", soap.ListUsers, invokingUser=org.admin)


def test_an_admin_may_take_the_admin_role_from_another_admin(soap: Any, live_wiring: Any, org: Org) -> None:
    other = add(soap, org, "other", "AO_ADMIN")
    assert soap.SetUserRoles(invokingUser=org.admin, userName=other, roles="EDC_USER").Roles == "EDC_USER"


# -- DeactivateUser / ReactivateUser ------------------------------------------------------------------------


def test_a_deactivated_user_is_refused_like_a_wrong_password_until_reactivated(
    soap: Any, live_wiring: Any, org: Org
) -> None:
    worker = with_password(org, live_wiring, "worker", "AO_USER,EDC_USER")
    soap.ListEventDataChallenges(invokingUser=worker)
    summary = soap.DeactivateUser(invokingUser=org.admin, userName=worker["UserName"])
    assert summary.Active is False
    inactive = refused_as_a_failed_login(
        live_wiring, "WSEC0003", soap.ListEventDataChallenges, invokingUser=worker
    )
    wrong = refused_as_a_failed_login(
        live_wiring,
        "WSEC0003",
        soap.ListEventDataChallenges,
        invokingUser={**worker, "OrgPassword": "Not-The-Password-1"},
    )
    assert inactive == wrong
    assert soap.ReactivateUser(invokingUser=org.admin, userName=worker["UserName"]).Active is True
    soap.ListEventDataChallenges(invokingUser=worker)
    operations = [(op, b["Active"], a["Active"]) for _w, op, b, a in history(soap, org, worker["UserName"])]
    assert operations == [("DeactivateUser", True, False), ("ReactivateUser", False, True)]


def test_deactivating_twice_or_reactivating_an_active_user_is_refused(
    soap: Any, live_wiring: Any, org: Org
) -> None:
    name = add(soap, org, "twice")
    refused(live_wiring, "WSEC0106", soap.ReactivateUser, invokingUser=org.admin, userName=name)
    soap.DeactivateUser(invokingUser=org.admin, userName=name)
    refused(live_wiring, "WSEC0106", soap.DeactivateUser, invokingUser=org.admin, userName=name)


def test_the_last_admin_cannot_deactivate_itself(soap: Any, live_wiring: Any, org: Org) -> None:
    me = org.admin["UserName"]
    refused(live_wiring, "WSEC0140", soap.DeactivateUser, invokingUser=org.admin, userName=me)


# -- another organisation's user, a missing one ----------------------------------------------------------


@pytest.mark.parametrize(
    "operation", ["SetUserRoles", "DeactivateUser", "ReactivateUser", "UnlockUser", "GetUserHistory"]
)
def test_another_organisations_user_answers_exactly_like_a_missing_one(
    soap: Any, live_wiring: Any, org: Org, operation: str
) -> None:
    extra = {"roles": "AO_USER"} if operation == "SetUserRoles" else {}
    call = getattr(soap, operation)
    answers = {
        refused(live_wiring, "WSEC0105", call, invokingUser=org.admin, userName=name, **extra).replace(
            name, "<u>"
        )
        for name in ("demo2.edc", f"nobody.{uuid.uuid4().hex[:8]}")
    }
    assert answers == {"No user <u> was found for your organisation."}
    assert soap.GetUserHistory(invokingUser=DEMO1_ADMIN, userName="demo1.edc").UserName == "demo1.edc"


# -- UnlockUser (on a server that locks a user name out after a few failures) --------------------------------


@pytest.fixture(scope="module")
def strict(demo_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    server = LiveServer(
        demo_db_url,
        tmp_path_factory.mktemp("users-strict") / "server.log",
        extra_env={"LRS_WS_LOGIN_FAILURE_LIMIT": str(FAILURE_LIMIT), "LRS_WS_PASSWORD_CACHE_SECONDS": "0"},
    ).start()
    yield client_for(server.soap_url)
    server.stop()


def test_an_admin_unlocks_a_locked_out_user_who_then_logs_in_at_once(
    strict: Any, live_wiring: Any, org: Org
) -> None:
    worker = with_password(org, live_wiring, "locked", "AO_USER,EDC_USER")
    for _ in range(FAILURE_LIMIT):
        wrong = {**worker, "OrgPassword": "wrong-1"}
        expect_fault("WSEC0003", strict.ListEventDataChallenges, invokingUser=wrong)
    expect_fault("WSEC0003", strict.ListEventDataChallenges, invokingUser=worker)
    listed = {u.UserName: u.LockedOut for u in strict.ListUsers(invokingUser=org.admin).Users.UserSummary}
    assert listed == {org.admin["UserName"]: False, worker["UserName"]: True}
    assert strict.UnlockUser(invokingUser=org.admin, userName=worker["UserName"]).LockedOut is False
    assert strict.ListEventDataChallenges(invokingUser=worker).TotalCount == 0
    [(who, op, before, after)] = history(strict, org, worker["UserName"])
    assert (who, op, before["FailedLogins"], before["LockedOut"], after["LockedOut"]) == (
        org.admin["UserName"],
        "UnlockUser",
        FAILURE_LIMIT,
        True,
        False,
    )


def test_unlocking_a_user_with_no_failed_logins_changes_nothing(
    strict: Any, live_wiring: Any, org: Org
) -> None:
    name = add(strict, org, "free")
    strict.ListUsers(invokingUser=org.admin)  # the admin's own login settled
    before = db_state(live_wiring.engine)
    assert strict.UnlockUser(invokingUser=org.admin, userName=name).LockedOut is False
    assert db_state(live_wiring.engine) == before


def test_set_password_tries_are_throttled_by_source_address_like_logins(
    strict: Any, live_wiring: Any, org: Org
) -> None:
    name = add(strict, org, "throttled")
    token = token_of(live_wiring, org, name)
    with live_wiring.engine.begin() as conn:
        conn.execute(text("DELETE FROM login_failures WHERE username = ' SetPassword'"))
    for n in range(FAILURE_LIMIT):
        expect_fault("WSEC0141", strict.SetPassword, token=f"guess-{n}", newPassword=NEW_PASSWORD)
    # The address is locked out: even the right token is refused, the same way, and stays unused.
    refused(live_wiring, "WSEC0141", strict.SetPassword, token=token, newPassword=NEW_PASSWORD)
    with live_wiring.engine.begin() as conn:
        conn.execute(text("DELETE FROM login_failures WHERE username = ' SetPassword'"))
    assert strict.SetPassword(token=token, newPassword=NEW_PASSWORD).UserName == name


# -- who an EDC's e-mail goes to ---------------------------------------------------------------------------


def test_an_edc_is_mailed_to_the_active_edc_users_of_the_moment_it_is_raised(
    soap: Any, live_wiring: Any, org: Org
) -> None:
    ao = with_password(org, live_wiring, "ao", "AO_USER")
    nominated, dropped, deactivated = (
        add(soap, org, s, r)
        for s, r in (("nominated", "AO_USER"), ("dropped", "AO_USER,EDC_USER"), ("gone", "EDC_USER"))
    )
    soap.SetUserRoles(invokingUser=org.admin, userName=nominated, roles="AO_USER,EDC_USER")
    soap.SetUserRoles(invokingUser=org.admin, userName=dropped, roles="AO_USER")
    soap.DeactivateUser(invokingUser=org.admin, userName=deactivated)
    achievement_id = create_id(soap, ao)
    raised = soap.RaiseEventDataChallenge(
        invokingUser=LRS,
        achievementId=achievement_id,
        problemType="GradeIncorrect",
        description="The grade should be Merit",
        recommendedAction="EditGrade",
        suppliedValue="Merit",
    )
    # Nominations after the EDC is raised do not change who it was sent to.
    soap.SetUserRoles(invokingUser=org.admin, userName=dropped, roles="AO_USER,EDC_USER")
    with live_wiring.engine.connect() as conn:
        recipients = [
            r
            for (r,) in conn.execute(
                text("SELECT recipient FROM outbox_messages WHERE subject LIKE :s"),
                {"s": f"%{raised.Reference}%"},
            )
        ]
    assert recipients == [f"{nominated}@{org.ref.lower()}.example"]


def test_an_admin_of_another_organisation_sees_none_of_this_ones_users(
    soap: Any, live_wiring: Any, org: Org
) -> None:
    add(soap, org, "private")
    theirs = {u.UserName for u in soap.ListUsers(invokingUser=org.admin, pageSize=500).Users.UserSummary}
    demo = {u.UserName for u in soap.ListUsers(invokingUser=DEMO1_ADMIN, pageSize=500).Users.UserSummary}
    assert not theirs & demo and org.user("private") in theirs
    assert DEMO2["UserName"] not in demo
