"""A refusal from an operation is a SOAP 1.1 Fault on HTTP 500, text/xml UTF-8, with a DomainFault."""

import requests
from support.soap import parse_fault

ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:s="http://api.lrs.qcf.gov.uk/services" xmlns:m="http://api.lrs.qcf.gov.uk/model">
  <soap:Body>
    <s:GetAchievement>
      <s:invokingUser><m:OrgPassword>{password}</m:OrgPassword><m:OrganisationRef>DEMO01</m:OrganisationRef>
        <m:UserName>demo1.edc</m:UserName></s:invokingUser>
      <s:achievementId>{achievement}</s:achievementId>
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
    response = post(live_server, ENVELOPE.format(password="DemoPassword0001", achievement=987654))
    assert assert_soap_fault(response, "WSEC0105") == "No achievement 987654 was found for your organisation."


def test_a_schema_violation_is_a_client_fault_on_http_500_with_a_domain_fault(live_server):
    response = post(live_server, ENVELOPE.format(password="DemoPassword0001", achievement="not-a-number"))
    assert_soap_fault(response, "WSEC0001")
    assert "DemoPassword0001" not in response.text
