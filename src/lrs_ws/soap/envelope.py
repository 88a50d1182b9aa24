"""Is a request body a SOAP 1.1 envelope this service will hand to spyne?

A cheap byte scan, then one hardened parse whose tree is checked for the hostile constructs: DOCTYPE and
entities, floods, depth, long names, SOAP-encoding references, processing instructions, unknown mustUnderstand
headers, SOAP 1.2. The accepted tree is what spyne validates and reads: a request is parsed once.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

from lxml import etree

from lrs_ws.config import Settings
from lrs_ws.soap.faults import SOAP_ENV_NS

SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_NEXT_ACTOR = "http://schemas.xmlsoap.org/soap/actor/next"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSA_NAMESPACES = frozenset(
    {"http://www.w3.org/2005/08/addressing", "http://schemas.xmlsoap.org/ws/2004/08/addressing"}
)
UNDERSTOOD_HEADERS = frozenset({f"{{{WSSE_NS}}}Security"})
ALLOWED_CHARSETS = frozenset({"utf-8", "utf8", "utf-16", "utf-16le", "utf-16be", "us-ascii", "ascii"})
READ_CHUNK = 64 * 1024

ENVELOPE = f"{{{SOAP_ENV_NS}}}Envelope"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
HEADER = f"{{{SOAP_ENV_NS}}}Header"
_BODY = f"{{{SOAP_ENV_NS}}}Body"
_FAULT = f"{{{SOAP_ENV_NS}}}Fault"
_MUST_UNDERSTAND = f"{{{SOAP_ENV_NS}}}mustUnderstand"
_ACTOR = f"{{{SOAP_ENV_NS}}}actor"
# libxml2's own limits (nesting, name length) trip while parsing, before the guard's tighter ones are checked.
_LIBXML2_LIMITS = {
    etree.ErrorTypes.ERR_RESOURCE_LIMIT: ("depth", "is nested too deeply or exceeds a parser limit"),
    etree.ErrorTypes.ERR_NAME_TOO_LONG: ("name length", "has a name that is too long"),
}
_DTD_MARKUP = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY|ATTLIST|ELEMENT|NOTATION)", re.IGNORECASE)
# Where the guard leaves the parsed envelope in the WSGI environ for spyne (soap/application.py).
PARSED_ENVELOPE = "lrs_ws.parsed_envelope"
_XML_DECL_ENCODING = re.compile(rb"\A\s*<\?xml[^>]*?\bencoding\s*=\s*[\"']([^\"']*)[\"']")


class RequestRefused(Exception):
    """A request the guard answers itself; `reason` is a short log key, `message` goes to the client."""

    def __init__(self, reason: str, message: str, faultcode: str = "soap:Client") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.faultcode = faultcode


def _attribute_flood_pattern(max_attributes: int) -> re.Pattern[bytes]:
    """Matches a start tag with more than `max_attributes` attributes (namespace declarations included).

    Attribute values cannot contain "<", so one attempt never runs past the next tag: the scan is linear.
    """
    attribute = rb"""\s+[^\s<>=/]+\s*=\s*(?:"[^"<]*"|'[^'<]*')"""
    return re.compile(rb"<[^\s<>/!?]+(?:%s){%d}" % (attribute, max_attributes + 1))


class EnvelopeInspector:
    """Decides whether a request body is a SOAP 1.1 envelope this service is willing to hand to spyne."""

    def __init__(self, settings: Settings) -> None:
        self.max_depth = settings.max_xml_depth
        self.max_attributes = settings.max_xml_attributes
        self.max_name_length = settings.max_xml_name_length
        # Never below what the largest batch allowed needs (an Achievement is 16 elements).
        self.max_elements = max(settings.max_xml_elements, 17 * settings.max_batch_achievements + 1000)
        self._flood = _attribute_flood_pattern(settings.max_xml_attributes)
        self._count_elements = etree.XPath("count(//*)")
        processing_instructions = "boolean(//processing-instruction())"
        too_deep = "boolean(" + "/*" * (self.max_depth + 1) + ")"
        long_element_names = f"boolean(//*[string-length(local-name()) > {self.max_name_length}])"
        self._processing_instructions = etree.XPath(processing_instructions)
        self._too_deep = etree.XPath(too_deep)
        self._long_element_names = etree.XPath(long_element_names)
        # The three at once: an accepted request (nearly every one) is looked at by one XPath call, not three.
        self._any_of_three = etree.XPath(f"{processing_instructions} or {too_deep} or {long_element_names}")
        self._attributes = etree.XPath("//@*")
        # lxml parsers are reused, one per thread (a parser is not safe to share between threads).
        self._parsers = threading.local()

    def inspect(self, body: bytes) -> etree._Element:
        """The parsed envelope if `body` may go to spyne; raise RequestRefused otherwise. Never echoes the
        input."""
        if not body.strip():
            raise RequestRefused("empty body", "The request is empty; a SOAP 1.1 envelope is required.")
        self._scan(_ascii_view(body))
        return self._parse(body)

    def _scan(self, view: bytes) -> None:
        # Byte-level checks first: they refuse DTDs before libxml2 declares a single entity and an
        # attribute flood before the parser builds a single attribute.
        declared = _XML_DECL_ENCODING.match(view)
        if declared and declared.group(1).decode("ascii", "replace").lower() not in ALLOWED_CHARSETS:
            raise RequestRefused("encoding", "The request must be encoded as UTF-8 or UTF-16.")
        if _DTD_MARKUP.search(view):
            raise RequestRefused("doctype", "A document type declaration (DOCTYPE) is not allowed in SOAP.")
        # Every element costs the parsers ~3 us and ~150 bytes however small it is: a 10 MiB body of empty
        # elements took spyne 4 s of CPU and 200 MiB. Each element needs one "<" (two with its end tag).
        if view.count(b"<") > 2 * self.max_elements + 16:
            raise self._too_many_elements()
        # Each attribute needs an "=": with no more of them in the whole body no element can hold too many,
        # and the pattern (tried at every "<", the larger part of the scan's time) need not run.
        if view.count(b"=") > self.max_attributes and self._flood.search(view):
            raise RequestRefused("attributes", f"An element has more than {self.max_attributes} attributes.")

    def _too_many_elements(self) -> RequestRefused:
        return RequestRefused("elements", f"The request has more than {self.max_elements} elements.")

    def _parse(self, body: bytes) -> etree._Element:
        # One parse in C, with the options spyne's own parser has (comments dropped, CDATA as text), and
        # no entity, DTD or network: the tree goes on to spyne, which validates and reads it without parsing
        # the body again. The byte scan has bounded what the parser may build (elements, attributes).
        parser = getattr(self._parsers, "parser", None)
        if parser is None:
            parser = self._parsers.parser = etree.XMLParser(
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                dtd_validation=False,
                huge_tree=False,
                remove_pis=False,
                remove_comments=True,
                strip_cdata=True,
                compact=True,
            )
        try:
            root = etree.fromstring(body, parser)
        except etree.XMLSyntaxError as exc:
            # lxml's messages quote names and text from the input: keep only the kind and the position.
            line, column = getattr(exc, "position", (0, 0)) or (0, 0)
            reason, problem = _LIBXML2_LIMITS.get(exc.code, ("not well-formed", "is not well-formed XML"))
            raise RequestRefused(reason, f"The request {problem} (line {line}, column {column}).") from None
        self._check_tree(root)
        return root

    def _check_tree(self, root: etree._Element) -> None:
        """The hostile constructs, each looked for over the whole tree at C speed (XPath, iterwalk)."""
        if root.getroottree().docinfo.internalDTD is not None:
            # Reached only by encodings the byte scan cannot read; entities are declared, not expanded.
            raise RequestRefused("doctype", "A document type declaration (DOCTYPE) is not allowed in SOAP.")
        if root.tag == f"{{{SOAP12_ENV_NS}}}Envelope":
            raise RequestRefused(
                "soap 1.2", "SOAP 1.2 is not supported; send a SOAP 1.1 envelope.", "soap:VersionMismatch"
            )
        if root.tag != ENVELOPE:
            raise RequestRefused("not an envelope", "The root element must be a SOAP 1.1 Envelope.")
        if self._count_elements(root) > self.max_elements:
            raise self._too_many_elements()
        if self._any_of_three(root):
            self._refuse_misshapen(root)
        for _, (prefix, uri) in etree.iterwalk(root, events=("start-ns",)):
            if len(prefix) > self.max_name_length or len(uri) > self.max_name_length:
                raise RequestRefused(
                    "name length", f"A namespace prefix or URI is longer than {self.max_name_length}."
                )
        self._check_attributes(self._attributes(root))
        for entry in root.iterchildren(HEADER):
            for header in entry.iterchildren(tag=etree.Element):
                self._check_header_entry(header)
        if operation_of(root) is None:
            raise RequestRefused(
                "no operation", "The SOAP Body must hold the element of the operation called."
            )

    def _refuse_misshapen(self, root: etree._Element) -> None:
        """Which of processing instructions, depth and long element names the request has, refused."""
        if self._processing_instructions(root):
            raise RequestRefused("processing instruction", "Processing instructions are not allowed.")
        if self._too_deep(root):
            raise RequestRefused(
                "depth", f"The request is nested too deeply (more than {self.max_depth} levels)."
            )
        raise RequestRefused("name length", f"An element name is longer than {self.max_name_length}.")

    def _check_attributes(self, attributes: list[Any]) -> None:
        # Few in a request this service accepts; the byte scan has bounded them per element, and no element
        # can hold more than the whole request has.
        if len(attributes) > self.max_attributes:
            per_element = Counter(a.getparent() for a in attributes)
            if max(per_element.values()) > self.max_attributes:
                raise RequestRefused(
                    "attributes", f"An element has more than {self.max_attributes} attributes."
                )
        for attribute in attributes:
            name = attribute.attrname
            local = name.rpartition("}")[2]
            if len(local) > self.max_name_length:
                raise RequestRefused(
                    "name length", f"An attribute name is longer than {self.max_name_length}."
                )
            if local == "href" or name in ("id", _XML_ID):
                # Multi-reference (SOAP encoding) graphs: this service is document/literal only, and
                # spyne follows cyclic hrefs until the stack runs out.
                raise RequestRefused("href", "SOAP-encoding id/href references are not allowed.")

    def _check_header_entry(self, entry: etree._Element) -> None:
        if entry.get(_MUST_UNDERSTAND, "0").strip().lower() not in ("1", "true"):
            return
        if entry.get(_ACTOR, SOAP11_NEXT_ACTOR).strip() not in ("", SOAP11_NEXT_ACTOR):
            return  # addressed to another node
        tag = entry.tag
        if tag in UNDERSTOOD_HEADERS or tag.partition("}")[0].lstrip("{") in WSA_NAMESPACES:
            return
        raise RequestRefused(
            "must understand",
            "A header marked mustUnderstand is not understood by this service.",
            "soap:MustUnderstand",
        )


def operation_of(envelope: etree._Element) -> etree._Element | None:
    """The element of the operation called: the Body's first child; None when the Body is missing or empty or
    holds a Fault (the guard refuses such a request, so every envelope it passes on has one)."""
    body = envelope.find(_BODY)
    if body is None or not len(body) or body[0].tag == _FAULT:
        return None
    return body[0]


def _ascii_view(body: bytes) -> bytes:
    """The body as ASCII-compatible bytes for the byte-level scan (UTF-16 decoded; others refused)."""
    head = body[:4]
    if head in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\x00\x00\x00<", b"<\x00\x00\x00"):
        raise RequestRefused("encoding", "The request must be encoded as UTF-8 or UTF-16.")
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return body.decode("utf-16", "replace").encode("utf-8")
    if head[:2] == b"<\x00":
        return body.decode("utf-16-le", "replace").encode("utf-8")
    if head[:2] == b"\x00<":
        return body.decode("utf-16-be", "replace").encode("utf-8")
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:]
    return body
