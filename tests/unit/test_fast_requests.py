"""The fast request reader gives what spyne's generic reader gives, for every operation's request."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from spyne import ComplexModel, Integer, MethodContext, Unicode
from spyne.error import ValidationError
from spyne.model import ComplexModelBase
from spyne.model.complex import Array
from spyne.server import ServerBase

from lrs_ws.app import soap_services
from lrs_ws.config import Settings
from lrs_ws.soap import fast_requests
from lrs_ws.soap.application import LrsSoap11, build_application
from lrs_ws.soap.context import Deps

XSI = "http://www.w3.org/2001/XMLSchema-instance"
APP = build_application(soap_services(), Deps(Settings(database_url="sqlite://"), lambda: None))
FAST = APP.in_protocol
GENERIC = LrsSoap11(validator="lxml")  # spyne's own readers throughout
METHODS = sorted(
    ((name, method) for service in APP.services for name, method in service.public_methods.items()),
    key=lambda pair: pair[0],
)


def _text_for(member: Any) -> str:
    """A text spyne's converter for `member` accepts."""
    if FAST.deserialization_handlers[member] == FAST.unicode_from_element:
        return " a b "
    for text in ("7", "2024-01-02", "2024-01-02T03:04:05"):
        try:
            FAST.from_unicode(member, text)
        except Exception:  # noqa: BLE001, S112 - the next candidate
            continue
        return text
    raise AssertionError(f"no sample text for {member}")


def _element(cls: Any, tag: str, how: str) -> etree._Element:
    """An element of `cls`: each member written `how` ("value", "empty", "nil" or "absent": not written),
    nested records always with values, arrays with no items."""
    element = etree.Element(tag, nsmap={"xsi": XSI})
    ns = cls.get_namespace()
    for key, member in cls.get_flat_type_info(cls).items():
        child_tag = f"{{{member.Attributes.sub_ns or ns}}}{key}"
        if issubclass(member, Array):
            etree.SubElement(element, child_tag)
        elif issubclass(member, ComplexModelBase):
            element.append(_element(member, child_tag, "value"))
        elif how != "absent":
            child = etree.SubElement(element, child_tag)
            if how == "value":
                child.text = _text_for(member)
            elif how == "nil":
                child.set(f"{{{XSI}}}nil", "true")
        element.append(etree.Comment(" a comment between members "))
    return element


def _plain(value: Any, cls: Any) -> Any:
    if value is None:
        return None
    if issubclass(cls, Array):
        (inner,) = cls._type_info.values()
        return [_plain(v, inner) for v in value]
    if issubclass(cls, ComplexModelBase):
        members = cls.get_flat_type_info(cls)
        # every attribute the instance has, in the order it was given them
        return [(k, _plain(v, members.get(k, object))) for k, v in vars(value).items()]
    return value


def test_every_operations_request_wrapper_and_the_invoking_user_are_read_by_the_fast_reader() -> None:
    assert METHODS
    for name, method in METHODS:
        assert FAST.deserialization_handlers[method.in_message] != FAST.complex_from_element, name


@pytest.mark.parametrize("how", ["value", "empty", "nil", "absent"])
@pytest.mark.parametrize(("name", "method"), METHODS, ids=[name for name, _ in METHODS])
def test_the_fast_reader_and_spynes_reader_agree(name: str, method: Any, how: str) -> None:
    cls = method.in_message
    element = _element(cls, f"{{{cls.get_namespace()}}}{name}", how)
    expected = GENERIC.from_element(None, cls, element)
    got = FAST.from_element(None, cls, element)
    assert type(got) is type(expected)
    assert _plain(got, cls) == _plain(expected, cls)


def test_text_is_kept_as_sent_and_an_empty_text_member_is_an_empty_string() -> None:
    name, method = next((n, m) for n, m in METHODS if n == "GetLearnerAchievements")
    cls = method.in_message
    got = FAST.from_element(None, cls, _element(cls, f"{{{cls.get_namespace()}}}{name}", "value"))
    assert got.uln == " a b " and got.pageNumber == 7 and got.invokingUser.UserName == " a b "
    empty = FAST.from_element(None, cls, _element(cls, f"{{{cls.get_namespace()}}}{name}", "empty"))
    assert empty.uln == "" and empty.pageNumber is None


def _with_uln_attribute(attribute: str, value: str) -> tuple[Any, Any, etree._Element]:
    """A GetLearnerAchievements request wrapper whose uln carries `attribute`, its class and a context."""
    name, method = next((n, m) for n, m in METHODS if n == "GetLearnerAchievements")
    cls = method.in_message
    element = _element(cls, f"{{{cls.get_namespace()}}}{name}", "value")
    uln = element.find(f"{{{cls.get_namespace()}}}uln")
    assert uln is not None
    uln.set(attribute, value)
    return MethodContext(ServerBase(APP), MethodContext.SERVER), cls, element


def test_a_member_carrying_xsi_type_is_left_to_spynes_reader() -> None:
    ctx, cls, element = _with_uln_attribute(f"{{{XSI}}}type", "xs:integer")  # a type the service lacks
    for reader in (GENERIC, FAST):
        with pytest.raises(ValidationError):
            reader.from_element(ctx, cls, element)


def test_a_member_carrying_another_attribute_is_read_as_spynes_reader_reads_it() -> None:
    ctx, cls, element = _with_uln_attribute("note", "kept")
    assert _plain(FAST.from_element(ctx, cls, element), cls) == _plain(
        GENERIC.from_element(ctx, cls, element), cls
    )


class Defaults(ComplexModel):
    __namespace__ = "urn:defaults"
    _type_info = [("Given", Unicode(default="given")), ("Count", Integer)]


class MadeDefaults(ComplexModel):
    __namespace__ = "urn:defaults"
    _type_info = [
        ("Given", Unicode(default="given")),
        ("Made", Unicode(default_factory=list)),
        ("Count", Integer),
    ]


@pytest.mark.parametrize("how", ["value", "empty", "nil", "absent"])
@pytest.mark.parametrize("cls", [Defaults, MadeDefaults])
def test_a_record_read_by_the_fast_reader_starts_from_the_defaults_spynes_gives_it(
    cls: Any, how: str
) -> None:
    read = fast_requests.reader(FAST, cls)
    assert read is not None
    element = _element(cls, "{urn:defaults}Record", how)
    del element[:-2]  # every member but Count (and its comment) left at its default
    expected = GENERIC.from_element(None, cls, element)
    first, second = read(None, cls, element), read(None, cls, element)
    assert list(vars(first).items()) == list(vars(expected).items())
    assert first.Given == "given"
    if cls is MadeDefaults:
        assert first.Made == [] and first.Made is not second.Made  # a factory's default is made each time
