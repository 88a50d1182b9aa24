"""A refusal from an operation is a SOAP 1.1 Fault on HTTP 500, text/xml UTF-8, with a DomainFault."""

import pytest
import requests
from support.demo import DEMO1_USER, DEMO_PASSWORD, ORG1
from support.soap import parse_fault

ENVELOPE = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:s="http://api.lrs.qcf.gov.uk/services" xmlns:m="http://api.lrs.qcf.gov.uk/model">
  <soap:Body>
    <s:GetAchievement>
      <s:invokingUser><m:OrgPassword>{{password}}</m:OrgPassword><m:OrganisationRef>{ORG1}</m:OrganisationRef>
        <m:UserName>{DEMO1_USER}</m:UserName></s:invokingUser>
      <s:achievementId>{{achievement}}</s:achievementId>
    </s:GetAchievement>
  </soap:Body>
</soap:Envelope>"""


def post(live_server, body: str) -> requests.Response:
    return requests.post(
        live_server.soap_url,
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        timeout=30,
    )


def assert_soap_fault(response: requests.Response, code: str) -> str:
    assert response.status_code == 500
    assert response.headers["Content-Type"].replace(" ", "").lower() == "text/xml;charset=utf-8"
    faultcode, error_code, message = parse_fault(response.content)
    assert faultcode.endswith("Client")
    assert error_code == code
    assert "Traceback" not in response.text
    return message


def test_an_authentication_failure_is_a_client_fault_on_http_500_with_a_domain_fault(live_server):
    response = post(live_server, ENVELOPE.format(password="not-the-password", achievement=1))
    message = assert_soap_fault(response, "WSEC0003")
    assert "not-the-password" not in response.text and "not-the-password" not in message


def test_a_missing_record_is_a_client_fault_on_http_500_with_a_domain_fault(live_server):
    response = post(live_server, ENVELOPE.format(password=DEMO_PASSWORD, achievement=987654))
    assert assert_soap_fault(response, "WSEC0105") == "No achievement 987654 was found for your organisation."


def test_a_schema_violation_is_a_client_fault_on_http_500_with_a_domain_fault(live_server):
    response = post(live_server, ENVELOPE.format(password=DEMO_PASSWORD, achievement="not-a-number"))
    assert_soap_fault(response, "WSEC0001")
    assert DEMO_PASSWORD not in response.text


HOSTILE_VALUES = [
    "it's",
    "O'Brien\" or 'x'='x",
    "Sup3r'Secret\"Pass",
    "Ünïcödé ‘curly’ — 密码",
    'b"<string>:1:0:ERROR',
]

EDIT_GRADE = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:s="http://api.lrs.qcf.gov.uk/services" xmlns:m="http://api.lrs.qcf.gov.uk/model">
  <soap:Body>
    <s:EditAchievementGrade>
      <s:invokingUser><m:OrgPassword>{DEMO_PASSWORD}</m:OrgPassword><m:OrganisationRef>{ORG1}</m:OrganisationRef>
        <m:UserName>{DEMO1_USER}</m:UserName></s:invokingUser>
      <s:achievementId>1</s:achievementId>
      <s:newGrade>{{grade}}</s:newGrade>
    </s:EditAchievementGrade>
  </soap:Body>
</soap:Envelope>"""


def _escaped(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _assert_clean_schema_fault(response: requests.Response, value: str) -> str:
    message = assert_soap_fault(response, "WSEC0001")
    for text in (message, response.content.decode("utf-8")):
        assert value not in text
        assert 'b"' not in text and "b'" not in text and "<string>:" not in text
    return message


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_value_of_the_wrong_type_gives_a_schema_fault_naming_the_element_and_type_only(live_server, value):
    response = post(live_server, ENVELOPE.format(password=DEMO_PASSWORD, achievement=_escaped(value)))
    message = _assert_clean_schema_fault(response, value)
    assert message == (
        "The request does not match the service's schema. "
        "Element 'achievementId': expected a value of type xs:integer."
    )


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_value_too_long_gives_a_schema_fault_naming_the_element_and_limit_only(live_server, value):
    grade = _escaped((value + " ") * 60)
    message = _assert_clean_schema_fault(post(live_server, EDIT_GRADE.format(grade=grade)), value)
    assert message == (
        "The request does not match the service's schema. "
        "Element 'newGrade': expected at most 200 characters."
    )


def test_an_unexpected_element_gives_a_schema_fault_without_its_content(live_server):
    secret = "Pa'ss\"w0rd-Ü"
    body = ENVELOPE.format(password=DEMO_PASSWORD, achievement=1).replace(
        "<m:UserName>demo1.edc</m:UserName>",
        f"<m:UserName>demo1.edc</m:UserName><m:Extra>{_escaped(secret)}</m:Extra>",
    )
    message = _assert_clean_schema_fault(post(live_server, body), secret)
    assert message.startswith("The request does not match the service's schema. Element 'Extra': ")
    assert "not expected" in message
