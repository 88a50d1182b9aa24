"""Is a request body a SOAP 1.1 envelope this service will hand to spyne?

A cheap byte scan, then a hardened streaming parse, each stopping at the first hostile construct: DOCTYPE and
entities, floods, depth, long names, SOAP-encoding references, processing instructions, unknown mustUnderstand
headers, SOAP 1.2.
"""

from __future__ import annotations

import re

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

_ENVELOPE = f"{{{SOAP_ENV_NS}}}Envelope"
_HEADER = f"{{{SOAP_ENV_NS}}}Header"
_MUST_UNDERSTAND = f"{{{SOAP_ENV_NS}}}mustUnderstand"
_ACTOR = f"{{{SOAP_ENV_NS}}}actor"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
# libxml2's own limits can trip inside one fed chunk, before the guard sees the events that would have
# tripped its tighter ones (a 64 KiB chunk holds thousands of nested start tags).
_LIBXML2_LIMITS = {
    etree.ErrorTypes.ERR_RESOURCE_LIMIT: ("depth", "is nested too deeply or exceeds a parser limit"),
    etree.ErrorTypes.ERR_NAME_TOO_LONG: ("name length", "has a name that is too long"),
}
_DTD_MARKUP = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY|ATTLIST|ELEMENT|NOTATION)", re.IGNORECASE)
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

    def inspect(self, body: bytes) -> None:
        """Return if `body` may go to spyne; raise RequestRefused otherwise. Never echoes the input."""
        if not body.strip():
            raise RequestRefused("empty body", "The request is empty; a SOAP 1.1 envelope is required.")
        self._scan(_ascii_view(body))
        self._parse(body)

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
        if self._flood.search(view):
            raise RequestRefused("attributes", f"An element has more than {self.max_attributes} attributes.")

    def _too_many_elements(self) -> RequestRefused:
        return RequestRefused("elements", f"The request has more than {self.max_elements} elements.")

    def _parse(self, body: bytes) -> None:
        parser = etree.XMLPullParser(
            events=("start", "end", "start-ns", "pi"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_pis=False,
            remove_comments=True,
        )
        state = _ParseState()
        try:
            for offset in range(0, len(body), READ_CHUNK):
                parser.feed(body[offset : offset + READ_CHUNK])
                self._check_events(parser, state)
            parser.close()
            self._check_events(parser, state)
        except etree.XMLSyntaxError as exc:
            # lxml's messages quote names and text from the input: keep only the kind and the position.
            line, column = getattr(exc, "position", (0, 0)) or (0, 0)
            reason, problem = _LIBXML2_LIMITS.get(exc.code, ("not well-formed", "is not well-formed XML"))
            raise RequestRefused(reason, f"The request {problem} (line {line}, column {column}).") from None
        if not state.seen_root:
            raise RequestRefused("no root", "The request has no root element.")

    def _check_events(self, parser: etree.XMLPullParser, state: _ParseState) -> None:
        for event, item in parser.read_events():
            if event == "start":
                state.depth += 1
                state.elements += 1
                state.seen_root = True
                if state.elements > self.max_elements:
                    raise self._too_many_elements()
                self._check_element(item, state)
                state.ns_declarations = 0
                state.path.append(item.tag)
            elif event == "end":
                state.depth -= 1
                state.path.pop()
                # Nothing is needed once an element is closed; keep the guard's own memory small.
                item.clear()
                parent = item.getparent()
                if parent is not None:
                    while item.getprevious() is not None:
                        del parent[0]
            elif event == "start-ns":
                prefix, uri = item
                state.ns_declarations += 1
                if len(prefix) > self.max_name_length or len(uri) > self.max_name_length:
                    raise RequestRefused(
                        "name length", f"A namespace prefix or URI is longer than {self.max_name_length}."
                    )
            elif event == "pi":
                raise RequestRefused("processing instruction", "Processing instructions are not allowed.")

    def _check_element(self, element: etree._Element, state: _ParseState) -> None:
        if state.depth > self.max_depth:
            raise RequestRefused(
                "depth", f"The request is nested too deeply (more than {self.max_depth} levels)."
            )
        tag = element.tag
        if state.depth == 1:
            if element.getroottree().docinfo.internalDTD is not None:
                # Reached only by encodings the byte scan cannot read; entities are declared, not expanded.
                raise RequestRefused(
                    "doctype", "A document type declaration (DOCTYPE) is not allowed in SOAP."
                )
            if tag == f"{{{SOAP12_ENV_NS}}}Envelope":
                raise RequestRefused(
                    "soap 1.2", "SOAP 1.2 is not supported; send a SOAP 1.1 envelope.", "soap:VersionMismatch"
                )
            if tag != _ENVELOPE:
                raise RequestRefused("not an envelope", "The root element must be a SOAP 1.1 Envelope.")
        if len(tag.rpartition("}")[2]) > self.max_name_length:
            raise RequestRefused("name length", f"An element name is longer than {self.max_name_length}.")
        attributes = element.attrib
        if len(attributes) + state.ns_declarations > self.max_attributes:
            raise RequestRefused("attributes", f"An element has more than {self.max_attributes} attributes.")
        for name in attributes:
            local = name.rpartition("}")[2]
            if len(local) > self.max_name_length:
                raise RequestRefused(
                    "name length", f"An attribute name is longer than {self.max_name_length}."
                )
            if local == "href" or name in ("id", _XML_ID):
                # Multi-reference (SOAP encoding) graphs: this service is document/literal only, and
                # spyne follows cyclic hrefs until the stack runs out.
                raise RequestRefused("href", "SOAP-encoding id/href references are not allowed.")
        if state.depth == 3 and state.path == [_ENVELOPE, _HEADER]:
            self._check_header_entry(element)

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


class _ParseState:
    __slots__ = ("depth", "elements", "seen_root", "ns_declarations", "path")

    def __init__(self) -> None:
        self.depth = 0
        self.elements = 0
        self.seen_root = False
        self.ns_declarations = 0
        self.path: list[str] = []


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
