"""Authentication failures of every kind against the live server: one answer, and nothing leaks."""

from __future__ import annotations

import uuid

import pytest
import requests
from support.demo import DEMO1_USER, ORG1, ORG2, TEST_LEARNER
from support.hardening import LogCursor, assert_no_leak, json_lines
from support.soap import DEMO_PASSWORD, parse_fault

SERVICES = "http://api.lrs.qcf.gov.uk/services"
MODEL = "http://api.lrs.qcf.gov.uk/model"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
WRONG = f"Guess-{uuid.uuid4().hex[:16]}"
SQLISH = "x' OR '1'='1'; SELECT password FROM users; --"


def body_user(username: str, password: str, org: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}" '
        f'xmlns:m="{MODEL}"><soap:Body><s:GetLearnerAchievements><s:invokingUser><m:OrgPassword>{password}'
        f"</m:OrgPassword><m:OrganisationRef>{org}</m:OrganisationRef><m:UserName>{username}</m:UserName>"
        f"</s:invokingUser><s:uln>{TEST_LEARNER}</s:uln></s:GetLearnerAchievements></soap:Body></soap:Envelope>"
    ).encode()


def token(username: str, password: str, password_type: str = "PasswordText", extra: str = "") -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}">'
        f'<soap:Header><wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#{password_type}">{password}</wsse:Password>{extra}'
        "</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body><s:GetLearnerAchievements>"
        f"<s:uln>{TEST_LEARNER}</s:uln></s:GetLearnerAchievements></soap:Body></soap:Envelope>"
    ).encode()


FAILURES = {
    "wrong password": body_user(DEMO1_USER, WRONG, ORG1),
    "unknown user": body_user("nobody.at.all", WRONG, ORG1),
    "right password, other organisation": body_user(DEMO1_USER, DEMO_PASSWORD, ORG2),
    "empty credentials": body_user("", "", ""),
    "sql in every field": body_user(SQLISH, SQLISH, ORG1),
    "no credentials at all": (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}">'
        f"<soap:Body><s:GetLearnerAchievements><s:uln>{TEST_LEARNER}</s:uln></s:GetLearnerAchievements>"
        "</soap:Body></soap:Envelope>"
    ).encode(),
    "token with a wrong password": token(DEMO1_USER, WRONG),
    "token with a password digest": token(DEMO1_USER, WRONG, "PasswordDigest"),
    "token with a stale Created": token(
        DEMO1_USER,
        DEMO_PASSWORD,
        extra="<wsse:Nonce>bm9uY2U=</wsse:Nonce><wsu:Created>2001-01-01T00:00:00Z</wsu:Created>",
    ),
    "token with SQL as Created": token(
        DEMO1_USER, DEMO_PASSWORD, extra=f"<wsse:Nonce>n</wsse:Nonce><wsu:Created>{SQLISH}</wsu:Created>"
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_an_authentication_failure_answers_wsec0003_with_one_message_and_leaks_nothing(live_server, case):
    log = LogCursor(live_server)
    answer = requests.post(
        live_server.soap_url,
        data=FAILURES[case],
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
    )
    assert answer.status_code == 500
    _, code, message = parse_fault(answer.content)
    assert code == "WSEC0003"
    assert message == "Authentication failed: the user name, password or organisation is not valid."
    secrets = (DEMO_PASSWORD, WRONG, SQLISH)
    assert_no_leak(answer.content.decode(), secrets, "the response")
    line = log.request_line(answer.headers["X-Request-Id"])
    assert_no_leak(log.seen, secrets, "the server log")
    json_lines(log.seen)
    outcome = (line["operation"], line["outcome"], line["code"])
    assert outcome == ("GetLearnerAchievements", "fault", "WSEC0003")
    assert "organisation" not in line and "user" not in line
