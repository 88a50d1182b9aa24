"""zeep clients and SOAP assertion helpers, in one place."""

from __future__ import annotations

import base64
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.transports import Transport

from support.demo import ADMIN_USER, DEMO1_USER, DEMO2_USER, DEMO_PASSWORD, LRS_ORG, ORG1, ORG2, SUPPORT_USER

FAULTS_NS = "http://api.lrs.qcf.gov.uk/faults"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def invoking_user(username: str, organisation_ref: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    """An invokingUser (LRS credentials) as zeep takes it."""
    return {"UserName": username, "OrgPassword": password, "OrganisationRef": organisation_ref}


# The demo users' credentials (support.demo).
DEMO1 = invoking_user(DEMO1_USER, ORG1)
DEMO2 = invoking_user(DEMO2_USER, ORG2)
LRS = invoking_user(SUPPORT_USER, LRS_ORG)
DEMO1_ADMIN = invoking_user(ADMIN_USER, ORG1)


def client_for(soap_url: str, wsdl: str | None = None, *, new_connection_per_call: bool = False) -> Any:
    """A zeep service proxy built from `wsdl` (default: the server's own ?wsdl) bound to `soap_url`.

    With `new_connection_per_call` every call opens its own connection (no keep-alive), so calls are spread
    over gunicorn's worker processes instead of staying with the one that took the first connection."""
    session = requests.Session()
    if new_connection_per_call:
        session.headers["Connection"] = "close"
    client = zeep.Client(wsdl or f"{soap_url}?wsdl", transport=Transport(session=session))
    binding = next(iter(client.wsdl.bindings))
    return client.create_service(binding, soap_url)


def fault_code(fault: Fault) -> str:
    """The DomainFault ErrorCode of a zeep Fault."""
    detail = fault.detail
    assert detail is not None, f"fault without detail: {fault.message}"
    code = detail.find(f".//{{{FAULTS_NS}}}ErrorCode")
    assert code is not None, etree.tostring(detail)
    return str(code.text)


def fault_message(fault: Fault) -> str:
    detail = fault.detail
    assert detail is not None
    text = detail.findtext(f".//{{{FAULTS_NS}}}ErrorDetail") or ""
    return base64.b64decode(text).decode("utf-8")


def parse_fault(body: bytes) -> tuple[str, str, str]:
    """(faultcode, ErrorCode, decoded ErrorDetail) from a raw SOAP fault response."""
    doc = etree.fromstring(body)
    fault = doc.find(f".//{{{SOAP_ENV_NS}}}Fault")
    assert fault is not None, body[:500]
    faultcode = fault.findtext("faultcode") or ""
    code = fault.findtext(f".//{{{FAULTS_NS}}}ErrorCode") or ""
    detail = fault.findtext(f".//{{{FAULTS_NS}}}ErrorDetail") or ""
    return faultcode, code, base64.b64decode(detail).decode("utf-8") if detail else ""


def expect_fault(code: str, call: Any, *args: Any, **kwargs: Any) -> Fault:
    """Call and assert it fails with the DomainFault `code`; returns the Fault."""
    try:
        call(*args, **kwargs)
    except Fault as fault:
        assert fault_code(fault) == code, f"expected {code}, got {fault_code(fault)}: {fault.message}"
        return fault
    raise AssertionError(f"expected fault {code}, call succeeded")
