"""The one place where domain errors become SOAP faults with a DomainFault detail."""

from __future__ import annotations

import base64
import re

from lxml import etree

from lrs_ws.domain import errors as e
from lrs_ws.service.records import RECORD_ERROR_CODES

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
FAULTS_NS = "http://api.lrs.qcf.gov.uk/faults"

# Most specific types first: the first isinstance match wins.
ERROR_CODES: list[tuple[type[e.DomainError], str]] = [
    (e.SchemaInvalid, "WSEC0001"),
    (e.AuthenticationFailed, "WSEC0003"),
    (e.TooManyAttempts, "WSEC0003"),
    (e.ServiceUnavailable, "WSEC0004"),
    (e.AccessDenied, "WSEC0006"),
    (e.InvalidUln, "WSEC0136"),
    (e.StaleVersion, "WSRC0013"),
    (e.UnknownJob, "WSRC0018"),
    (e.GradeTooLong, "WSEC0101"),
    (e.FutureDate, "WSEC0102"),
    (e.InvalidValue, "WSEC0103"),
    (e.LearnerNotFound, "WSEC0104"),
    (e.NotFound, "WSEC0105"),
    (e.InvalidTransition, "WSEC0106"),
    (e.SameUlnTransfer, "WSEC0107"),
    (e.DuplicateAchievement, "WSEC0108"),
    (e.AmbiguousTarget, "WSEC0109"),
    (e.ActionNotVerified, "WSEC0110"),
    (e.QueueFull, "WSEC0112"),
]

INTERNAL_ERROR_CODE = "WSEC0199"
INTERNAL_ERROR_MESSAGE = "The service could not complete the request. Quote the request id to LRS support."


def error_code(error: e.DomainError) -> str:
    """The stable ErrorCode for a domain error."""
    if isinstance(error, e.BatchRefused):
        return error.code
    for kind, code in ERROR_CODES:
        if isinstance(error, kind):
            return code
    # Record-level refusals (names not matching the register, ...) keep the code the batch error file gives.
    for kind, code, _category in RECORD_ERROR_CODES:
        if isinstance(error, kind):
            return code
    return INTERNAL_ERROR_CODE


def is_client_error(code: str) -> bool:
    return code != INTERNAL_ERROR_CODE


def domain_fault_element(code: str, message: str) -> etree._Element:
    """<DomainFault><ErrorCode/><ErrorDetail/></DomainFault> in the faults namespace, built explicitly.

    ErrorDetail is xs:base64Binary in the LRS contract; clients built from it decode the message as bytes.
    """
    fault = etree.Element(f"{{{FAULTS_NS}}}DomainFault", nsmap={"f": FAULTS_NS})
    etree.SubElement(fault, f"{{{FAULTS_NS}}}ErrorCode").text = code
    etree.SubElement(fault, f"{{{FAULTS_NS}}}ErrorDetail").text = base64.b64encode(
        message.encode("utf-8")
    ).decode("ascii")
    return fault


def domain_fault_detail(code: str, message: str) -> etree._Element:
    """<detail> holding the DomainFault."""
    detail = etree.Element("detail")
    detail.append(domain_fault_element(code, message))
    return detail


_QUOTED = re.compile(r"'([^']*)'")


def scrub_schema_message(message: str, limit: int = 300) -> str:
    """A schema validator's message without the values it quotes (they may be passwords)."""
    return _QUOTED.sub(lambda m: m.group(0) if m.group(1).startswith("{") else "'…'", message)[:limit]


def fault_envelope(code: str, message: str, faultcode: str = "soap:Client") -> bytes:
    """A complete SOAP 1.1 Fault envelope, for refusals made before Spyne sees the request."""
    env = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS})
    body = etree.SubElement(env, f"{{{SOAP_ENV_NS}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP_ENV_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = faultcode
    etree.SubElement(fault, "faultstring").text = f"{code}: {message}"
    fault.append(domain_fault_detail(code, message))
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")
