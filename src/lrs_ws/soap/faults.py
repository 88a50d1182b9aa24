"""The SOAP rendering of refusals: the DomainFault detail, schema-fault texts and whole Fault envelopes.
Which ErrorCode a refusal gets is domain/error_codes.py's table."""

from __future__ import annotations

import base64
import re

from lxml import etree

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
FAULTS_NS = "http://api.lrs.qcf.gov.uk/faults"


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


# Schema faults have one fixed shape built from the validator's structured error: the element (and
# attribute) name, then what the schema expects there. The value received is never echoed: it may be a
# password, and libxml2 quotes it without escaping, so an apostrophe in it would end any scrubbing.
_ELEMENT = re.compile(r"^Element '(?:\{[^}]*\})?([^'{}]+)'(?:, attribute '([^']+)')?: ")
_EXPECTS_TYPE = re.compile(r"type '(?:\{[^}]*\})?([^'{}]+)'\.$")
_EXPECTS_LIMIT = re.compile(r"length of '?([0-9]+)'?\.$")
_EXPECTS_SET = re.compile(r"the set \{([^{}]*)\}\.$")
_EXPECTS_ELEMENTS = re.compile(r"Expected is (?:one of )?\( ([^()]*) \)\.$")
_NAMESPACE = re.compile(r"\{[^}]*\}")
_LENGTH_RULES = {
    "SCHEMAV_CVC_MAXLENGTH_VALID": "at most {} characters",
    "SCHEMAV_CVC_MINLENGTH_VALID": "at least {} characters",
    "SCHEMAV_CVC_LENGTH_VALID": "exactly {} characters",
}
_FIXED_RULES = {
    "SCHEMAV_CVC_PATTERN_VALID": "a value in the format the schema defines",
    "SCHEMAV_CVC_MININCLUSIVE_VALID": "a value within the allowed range",
    "SCHEMAV_CVC_MAXINCLUSIVE_VALID": "a value within the allowed range",
    "SCHEMAV_CVC_MINEXCLUSIVE_VALID": "a value within the allowed range",
    "SCHEMAV_CVC_MAXEXCLUSIVE_VALID": "a value within the allowed range",
    "SCHEMAV_CVC_TOTALDIGITS_VALID": "a number with fewer digits",
    "SCHEMAV_CVC_FRACTIONDIGITS_VALID": "a number with fewer decimal places",
}


def schema_fault_message(message: str, type_name: str) -> str:
    """The WSEC0001 text for one schema-validator error (lxml's `_LogEntry.message` and `.type_name`):
    "Element 'newGrade': expected at most 20 characters." Never the value received."""
    found = _ELEMENT.match(message)
    if found is None:
        return ""
    where = f"Element '{found.group(1)}'" + (f", attribute '{found.group(2)}'" if found.group(2) else "")
    tail = message[found.end() :].strip()
    return f"{where}: {_expectation(tail, type_name)}."


def _expectation(tail: str, type_name: str) -> str:
    if type_name in _LENGTH_RULES and (limit := _EXPECTS_LIMIT.search(tail)):
        return "expected " + _LENGTH_RULES[type_name].format(limit.group(1))
    if type_name in _FIXED_RULES:
        return "expected " + _FIXED_RULES[type_name]
    if type_name == "SCHEMAV_CVC_ENUMERATION_VALID" and (allowed := _EXPECTS_SET.search(tail)):
        return "expected one of " + allowed.group(1)
    if type_name.startswith("SCHEMAV_CVC_DATATYPE_VALID") and (kind := _EXPECTS_TYPE.search(tail)):
        return f"expected a value of type {kind.group(1)}"
    if tail.startswith("Missing child element"):
        expected = _EXPECTS_ELEMENTS.search(tail)
        names = _NAMESPACE.sub("", expected.group(1)) if expected else "more elements"
        return f"missing child element; expected {names}"
    if tail.startswith("This element is not expected"):
        expected = _EXPECTS_ELEMENTS.search(tail)
        return "element not expected here" + (
            f"; expected {_NAMESPACE.sub('', expected.group(1))}" if expected else ""
        )
    return "does not match the service's schema"


def fault_envelope(code: str, message: str, faultcode: str = "soap:Client") -> bytes:
    """A complete SOAP 1.1 Fault envelope, for refusals made before Spyne sees the request."""
    env = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS})
    body = etree.SubElement(env, f"{{{SOAP_ENV_NS}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP_ENV_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = faultcode
    etree.SubElement(fault, "faultstring").text = f"{code}: {message}"
    fault.append(domain_fault_detail(code, message))
    document: bytes = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    return document
