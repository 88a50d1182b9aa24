"""The guard's element limit: a body of many small elements is refused before spyne parses it."""

from __future__ import annotations

import pytest

from lrs_ws.config import Settings
from lrs_ws.soap.guard import EnvelopeInspector, RequestRefused

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


def envelope(children: int, child: str = "<s:x/>") -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{SOAP11}" xmlns:s="urn:s"><soap:Body><s:Op>{child * children}</s:Op>'
        "</soap:Body></soap:Envelope>"
    ).encode()


def inspector(**changes: int) -> EnvelopeInspector:
    return EnvelopeInspector(Settings().with_(max_batch_achievements=1, **changes))


def test_a_body_with_more_elements_than_the_limit_is_refused_by_the_byte_scan():
    with pytest.raises(RequestRefused) as refused:
        inspector(max_xml_elements=2000).inspect(envelope(5000))
    assert refused.value.reason == "elements" and "2000 elements" in refused.value.message


def test_elements_with_end_tags_are_counted_exactly_while_parsing():
    # 2,000 children with end tags: ~4,000 "<" pass the byte scan, the parse counts 2,003 elements.
    with pytest.raises(RequestRefused) as refused:
        inspector(max_xml_elements=2000).inspect(envelope(2000, "<s:x></s:x>"))
    assert refused.value.reason == "elements"


def test_a_body_at_the_limit_passes():
    inspector(max_xml_elements=2000).inspect(envelope(2000 - 3))


def test_the_limit_never_falls_below_what_the_largest_batch_needs():
    settings = Settings().with_(max_xml_elements=10, max_batch_achievements=5000)
    assert EnvelopeInspector(settings).max_elements >= 80_000
