"""Authentication and roles over SOAP: every credential failure is the same WSEC0003, roles give WSEC0006, a
WS-Security UsernameToken (PasswordText) works instead of invokingUser, and no password is ever echoed in a
response or written to the server's log."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from support.dbstate import RECORD_TABLES, db_state
from support.demo import AMIRA, DEMO1_USER, JAMES, ORG1, ORG2, TEST_LEARNER
from support.records import create_id
from support.soap import DEMO1, DEMO_PASSWORD, LRS, expect_fault, fault_message, parse_fault
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.wsse.username import UsernameToken

from lrs_ws.service import admin


def _password() -> str:
    return f"Pw-{uuid.uuid4().hex}"


class Users:
    """Users of DEMO01 with one role set each, plus an inactive one; each with a password of its own."""

    def __init__(self, wiring: Any) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.ao_only = self._add(wiring, f"ao_only.{suffix}", ["AO_USER"])
        self.edc_only = self._add(wiring, f"edc_only.{suffix}", ["EDC_USER"])
        self.inactive = self._add(wiring, f"inactive.{suffix}", ["AO_USER", "EDC_USER"])
        with wiring.uow_factory() as uow:
            user = uow.users.by_username(self.inactive["UserName"])
            assert user is not None
            user.active = False
            uow.commit()

    @staticmethod
    def _add(wiring: Any, name: str, roles: list[str]) -> dict[str, str]:
        password = _password()
        admin.add_user(
            wiring.uow_factory(),
            organisation_ref=ORG1,
            username=name,
            password=password,
            email=f"{name}@demo1.example",
            roles=roles,
        )
        return {"UserName": name, "OrgPassword": password, "OrganisationRef": ORG1}


@pytest.fixture(scope="module")
def users(live_wiring: Any) -> Users:
    return Users(live_wiring)


def refused(live_wiring: Any, code: str, call: Any, **kwargs: Any) -> Fault:
    before = db_state(live_wiring.engine, RECORD_TABLES)
    fault = expect_fault(code, call, **kwargs)
    assert db_state(live_wiring.engine, RECORD_TABLES) == before
    return fault


# -- every credential failure is the same WSEC0003 ----------------------------------------------------------


def _failures(users: Users) -> dict[str, dict[str, str] | None]:
    return {
        "unknown-user": {**DEMO1, "UserName": f"nobody.{uuid.uuid4().hex[:6]}"},
        "wrong-password": {**DEMO1, "OrgPassword": _password()},
        "wrong-organisation": {**DEMO1, "OrganisationRef": ORG2},
        "unknown-organisation": {**DEMO1, "OrganisationRef": "NOORG1"},
        "no-organisation": {"UserName": DEMO1_USER, "OrgPassword": DEMO_PASSWORD},
        "inactive-user": users.inactive,
        "empty-password": {**DEMO1, "OrgPassword": ""},
        "no-invoking-user": None,
    }


FAILURES = [
    "unknown-user",
    "wrong-password",
    "wrong-organisation",
    "unknown-organisation",
    "no-organisation",
    "inactive-user",
    "empty-password",
    "no-invoking-user",
]


@pytest.mark.parametrize("case", FAILURES)
def test_every_credential_failure_is_wsec0003_with_one_message(
    soap: Any, live_wiring: Any, users: Users, case: str
) -> None:
    user = _failures(users)[case]
    fault = refused(live_wiring, "WSEC0003", soap.GetLearnerAchievements, invokingUser=user, uln=TEST_LEARNER)
    reference = expect_fault(
        "WSEC0003", soap.GetLearnerAchievements, invokingUser={**DEMO1, "OrgPassword": "x"}, uln=TEST_LEARNER
    )
    assert fault_message(fault) == fault_message(reference)
    assert fault.message == reference.message


def test_the_inactive_users_own_password_is_right_yet_refused(soap: Any, users: Users) -> None:
    expect_fault("WSEC0003", soap.GetAchievement, invokingUser=users.inactive, achievementId=1)


def test_a_failed_login_never_tells_whether_the_record_exists(soap: Any, live_wiring: Any) -> None:
    """Credentials are checked before the record is looked up: a missing id gives WSEC0003 too."""
    wrong = {**DEMO1, "OrgPassword": _password()}
    expect_fault("WSEC0003", soap.GetAchievement, invokingUser=wrong, achievementId=2_000_000_000)
    expect_fault(
        "WSEC0003", soap.EditAchievementGrade, invokingUser=wrong, achievementId=1, newGrade="x" * 21
    )


# -- roles -------------------------------------------------------------------------------------------------


def test_a_user_with_only_edc_user_cannot_edit_a_grade(soap: Any, live_wiring: Any, users: Users) -> None:
    target = create_id(soap)
    fault = refused(
        live_wiring,
        "WSEC0006",
        soap.EditAchievementGrade,
        invokingUser=users.edc_only,
        achievementId=target,
        newGrade="Merit",
    )
    assert "roles" in fault_message(fault)


def test_a_user_with_only_edc_user_cannot_look_up_a_learners_achievements(
    soap: Any, live_wiring: Any, users: Users
) -> None:
    refused(
        live_wiring,
        "WSEC0006",
        soap.GetLearnerAchievements,
        invokingUser=users.edc_only,
        uln=TEST_LEARNER,
    )


def test_a_user_with_only_edc_user_processes_edcs(soap: Any, users: Users) -> None:
    listed = soap.ListEventDataChallenges(invokingUser=users.edc_only, status="Complete")
    assert listed.TotalCount >= 1


@pytest.mark.parametrize(
    "operation",
    [
        "EditAchievementGrade",
        "DeleteAchievement",
        "TransferAchievement",
        "WithdrawAchievement",
        "CreateAchievement",
    ],
)
def test_lrs_business_support_never_changes_an_achievement(
    soap: Any, live_wiring: Any, operation: str
) -> None:
    target = create_id(soap)
    calls = {
        "EditAchievementGrade": dict(achievementId=target, newGrade="Merit"),
        "DeleteAchievement": dict(achievementId=target),
        "TransferAchievement": dict(achievementId=target, newUln=JAMES),
        "WithdrawAchievement": dict(achievementId=target, reason="no"),
        "CreateAchievement": dict(
            submissionType="Final",
            achievement={
                "AchievementAwardDate": "2015-01-01T00:00:00",
                "Action": 1,
                "ActionDate": "2015-01-01T00:00:00",
                "GivenName": "Amira",
                "FamilyName": "Khan",
                "ProviderUkprn": "10000003",
                "Uln": AMIRA,
                "UnitOrQualificationReferenceNumber": "K/501/5773",
            },
        ),
    }
    refused(live_wiring, "WSEC0006", getattr(soap, operation), invokingUser=LRS, **calls[operation])


def test_a_role_refusal_does_not_depend_on_whether_the_record_exists(soap: Any) -> None:
    for achievement_id in (create_id(soap), 2_000_000_000):
        expect_fault(
            "WSEC0006",
            soap.EditAchievementGrade,
            invokingUser=LRS,
            achievementId=achievement_id,
            newGrade="Merit",
        )


@pytest.mark.parametrize(
    "operation, kwargs",
    [
        ("ListEventDataChallenges", {}),
        ("ProcessEventDataChallenge", {"reference": "EDC0000001"}),
        (
            "RecordEventDataChallengeDecision",
            {"reference": "EDC0000001", "decision": "Accepted", "reason": "r"},
        ),
    ],
)
def test_an_ao_user_without_edc_user_cannot_work_on_edcs(
    soap: Any, live_wiring: Any, users: Users, operation: str, kwargs: dict[str, Any]
) -> None:
    refused(live_wiring, "WSEC0006", getattr(soap, operation), invokingUser=users.ao_only, **kwargs)


def test_an_ao_user_without_edc_user_manages_achievements(soap: Any, users: Users) -> None:
    target = create_id(soap)
    edited = soap.EditAchievementGrade(invokingUser=users.ao_only, achievementId=target, newGrade="Merit")
    assert edited.Grade == "Merit"


# -- WS-Security UsernameToken ------------------------------------------------------------------------------


def token_client(
    live_server: Any, username: str, password: str, digest: bool = False
) -> tuple[Any, HistoryPlugin]:
    history = HistoryPlugin()
    client = zeep.Client(
        f"{live_server.soap_url}?wsdl",
        wsse=UsernameToken(username, password, use_digest=digest),
        plugins=[history],
    )
    return client.create_service(next(iter(client.wsdl.bindings)), live_server.soap_url), history


@pytest.fixture(scope="module")
def token_soap(live_server: Any) -> Any:
    service, _ = token_client(live_server, DEMO1_USER, DEMO_PASSWORD)
    return service


def test_a_username_token_replaces_invoking_user_on_reads(token_soap: Any) -> None:
    found = token_soap.GetLearnerAchievements(uln=TEST_LEARNER, sortBy="AwardDate", sortDescending=True)
    assert found.TotalCount >= 3
    assert token_soap.FindLearnerByUln(uln=JAMES).FamilyName == "Pickles"
    assert token_soap.ListEventDataChallenges(status="Complete").TotalCount >= 1


def test_a_username_token_replaces_invoking_user_on_changes(
    token_soap: Any, soap: Any, live_wiring: Any
) -> None:
    made = token_soap.CreateAchievement(
        submissionType="Final",
        achievement={
            "AchievementAwardDate": "2015-01-01T00:00:00",
            "Action": 1,
            "ActionDate": "2015-01-02T00:00:00",
            "GivenName": "Amira",
            "FamilyName": "Khan",
            "MisIdentifier": uuid.uuid4().hex[:12],
            "ProviderUkprn": "10000001",
            "Uln": AMIRA,
            "UnitOrQualificationReferenceNumber": "K/501/5773",
        },
    )
    edited = token_soap.EditAchievementGrade(achievementId=made.AchievementId, newGrade="Merit")
    assert edited.Grade == "Merit"
    events = soap.GetAchievementHistory(
        invokingUser=DEMO1, achievementId=made.AchievementId
    ).Events.AuditEntry
    assert [(e.Operation, e.UserName) for e in events] == [
        ("Create", "demo1.edc"),
        ("EditGrade", "demo1.edc"),
    ]


def test_a_username_token_with_a_wrong_password_is_wsec0003(live_server: Any, live_wiring: Any) -> None:
    wrong = _password()
    service, history = token_client(live_server, "demo1.edc", wrong)
    fault = refused(live_wiring, "WSEC0003", service.GetLearnerAchievements, uln=TEST_LEARNER)
    reference = expect_fault("WSEC0003", service.FindLearnerByUln, uln=JAMES)
    assert fault_message(fault) == fault_message(reference)
    assert wrong.encode() not in etree.tostring(history.last_received["envelope"])
    assert wrong not in live_server.log_text()


@pytest.mark.parametrize("who", ["inactive", "unknown"])
def test_a_username_token_of_an_inactive_or_unknown_user_is_wsec0003(
    live_server: Any, users: Users, who: str
) -> None:
    name = users.inactive["UserName"] if who == "inactive" else f"ghost.{uuid.uuid4().hex[:6]}"
    service, _ = token_client(live_server, name, users.inactive["OrgPassword"])
    expect_fault("WSEC0003", service.GetLearnerAchievements, uln=TEST_LEARNER)


def test_a_password_digest_token_is_refused(live_server: Any) -> None:
    """Only PasswordText is supported: a digest cannot be checked against a salted slow hash."""
    service, _ = token_client(live_server, "demo1.edc", DEMO_PASSWORD, digest=True)
    expect_fault("WSEC0003", service.GetLearnerAchievements, uln=TEST_LEARNER)


def test_the_invoking_user_in_the_body_wins_over_a_token(live_server: Any) -> None:
    service, _ = token_client(live_server, "demo1.edc", DEMO_PASSWORD)
    expect_fault(
        "WSEC0003",
        service.GetLearnerAchievements,
        invokingUser={**DEMO1, "OrgPassword": _password()},
        uln=TEST_LEARNER,
    )


# -- no password in any response or log line ----------------------------------------------------------------


def test_no_password_appears_in_a_fault_response_or_the_server_log(live_server: Any, soap: Any) -> None:
    wrong = _password()
    history = HistoryPlugin()
    client = zeep.Client(f"{live_server.soap_url}?wsdl", plugins=[history])
    service = client.create_service(next(iter(client.wsdl.bindings)), live_server.soap_url)
    expect_fault(
        "WSEC0003",
        service.GetLearnerAchievements,
        invokingUser={**DEMO1, "OrgPassword": wrong},
        uln=TEST_LEARNER,
    )
    response = etree.tostring(history.last_received["envelope"])
    assert wrong.encode() not in response
    soap.GetAchievement(
        invokingUser=DEMO1, achievementId=create_id(soap)
    )  # a successful call with the demo password
    log = live_server.log_text()
    assert wrong not in log and DEMO_PASSWORD not in log


def test_no_password_appears_in_a_schema_fault_or_the_server_log(live_server: Any) -> None:
    """An invalid request (an unknown element) is refused with WSEC0001 without echoing what it carried."""
    secret = _password()
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:s="http://api.lrs.qcf.gov.uk/services" xmlns:m="http://api.lrs.qcf.gov.uk/model">
  <soap:Body><s:GetAchievement>
    <s:invokingUser><m:OrgPassword>{secret}</m:OrgPassword><m:OrganisationRef>DEMO01</m:OrganisationRef>
      <m:UserName>demo1.edc</m:UserName><m:Unexpected>{secret}</m:Unexpected></s:invokingUser>
    <s:achievementId>not-a-number-{secret}</s:achievementId>
  </s:GetAchievement></soap:Body></soap:Envelope>"""
    got = requests.post(
        live_server.soap_url,
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=10,
    )
    assert got.status_code == 500
    _, code, message = parse_fault(got.content)
    assert code == "WSEC0001"
    assert secret.encode() not in got.content and secret not in message
    assert secret not in live_server.log_text()
