"""A WSDL that is the same bytes on every run.

Spyne orders schema types that share a `repr` (every customised `Unicode(max_len=...)`, every `Array`) by set
iteration, which follows the interpreter's hash seed: two processes can publish the same contract in different
orders. The committed copy in `wsdl/` is compared byte for byte, so the order is fixed here.
"""

from __future__ import annotations

from lxml import etree

XSD_NS = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"

_GROUPS = {
    f"{{{XSD_NS}}}import": 0,
    f"{{{XSD_NS}}}simpleType": 1,
    f"{{{XSD_NS}}}complexType": 1,
    f"{{{XSD_NS}}}element": 2,
}


def _key(node: etree._Element) -> tuple[int, str]:
    return _GROUPS.get(node.tag, 3), node.get("name") or node.get("namespace") or ""


def canonical_wsdl(raw: bytes) -> bytes:
    """The WSDL with each schema's imports, types and elements sorted by name (meaning unchanged)."""
    root = etree.fromstring(raw)
    for schema in root.iter(f"{{{XSD_NS}}}schema"):
        children = list(schema)
        if any(not isinstance(c.tag, str) for c in children):
            continue  # comments or processing instructions: leave such a schema as it is
        for child in children:
            schema.remove(child)
        schema.extend(sorted(children, key=_key))
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return document
