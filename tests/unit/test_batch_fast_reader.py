"""The fast Achievement reader gives exactly what spyne's generic reader gives, field by field."""

from __future__ import annotations

from lxml import etree

from lrs_ws.service.records import FIELD_NAMES
from lrs_ws.soap import fast_records
from lrs_ws.soap.application import LrsSoap11
from lrs_ws.soap.lrs_contract_types import Achievement

S = "http://api.lrs.qcf.gov.uk/services"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

ELEMENT = f"""<ns0:Achievement xmlns:ns0="{S}" xmlns:xsi="{XSI}">
  <ns0:AchievementAwardDate>2023-07-01T00:00:00</ns0:AchievementAwardDate>
  <ns0:Action>1</ns0:Action>
  <ns0:ActionDate>2024-01-05T10:11:12+01:00</ns0:ActionDate>
  <ns0:ActionReason/>
  <ns0:DateofBirth xsi:nil="true"/>
  <ns0:FamilyName> Pickles </ns0:FamilyName>
  <ns0:Gender>9</ns0:Gender>
  <!-- a comment -->
  <ns0:GivenName>Jämes</ns0:GivenName>
  <ns0:Grade>Pass&amp;Merit</ns0:Grade>
  <ns0:MisIdentifier xsi:nil="1"/>
  <ns0:ProviderUkprn>10000001</ns0:ProviderUkprn>
  <ns0:Uln>8659377485</ns0:Uln>
  <ns0:UnitOrQualificationReferenceNumber>K/501/5773</ns0:UnitOrQualificationReferenceNumber>
</ns0:Achievement>"""


def test_the_fast_reader_and_spynes_reader_agree_on_every_field():
    element = etree.fromstring(ELEMENT)
    generic = LrsSoap11(validator="lxml")
    fast = LrsSoap11(validator="lxml")
    fast_records.install(fast)
    expected = generic.from_element(None, Achievement, element)
    got = fast.from_element(None, Achievement, element)
    assert {n: getattr(got, n) for n in FIELD_NAMES} == {n: getattr(expected, n, None) for n in FIELD_NAMES}
    assert got.FamilyName == " Pickles " and got.ActionReason == "" and got.DateofBirth is None
    assert got.ActionDate.utcoffset() is not None
