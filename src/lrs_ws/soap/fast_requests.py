"""A faster reader for every operation's request wrapper and for the invoking `User`.

spyne's generic complex-type reader looks up each member's class attributes and handler for every child of
every request (about thirty look-ups for a GetLearnerAchievements), which costs more than the rest of reading
it. The request wrappers and `User` are plain records: members in one namespace, each at most once, none
read-only, none an XML attribute. For those the look-ups are planned once per type at start-up and each
child is then read as spyne's reader reads it: a member that is not plain text or a plain value (a record,
an array, an enumeration, binary or XML content) goes back through spyne's `from_element`; a text or value
member that is `xsi:nil` is None (or its default, should the protocol say so); an empty element is "" for
text and None for a value, and None where its type says `empty_is_none`; anything else goes through
spyne's own converter for its declared type. A child that carries `xsi:type` is left to spyne. The instance
read into starts as a copy of the attributes spyne's constructor gives every new one (each member's default
or None), planned once: running the constructor walks the members again, which cost more than reading them;
a record with a member whose default comes from a factory is still constructed. The lxml validator has
checked the request against the schema before this runs, as for the batch reader (`fast_records`);
`tests/unit/test_fast_requests.py` compares both readers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spyne.model.complex import ComplexModelBase, XmlAttribute

from lrs_ws.soap.lrs_contract_types import User
from lrs_ws.soap.namespaces import XSI_NS

XSI_NIL = f"{{{XSI_NS}}}nil"
XSI_TYPE = f"{{{XSI_NS}}}type"

# (member class, converter or None for a member spyne reads, text of an empty element, empty_is_none, default)
Step = tuple[Any, Callable[..., Any] | None, str | None, bool, Any]


def _plan(protocol: Any, cls: Any) -> dict[str, Step] | None:
    """How to read each member of `cls`, or None when spyne's own reader must read it."""
    cls_attrs = protocol.get_cls_attrs(cls)
    if cls_attrs._xml_tag_body_as is not None or cls._type_info_alt:
        return None
    plan: dict[str, Step] = {}
    for key, member in cls.get_flat_type_info(cls).items():
        attrs = protocol.get_cls_attrs(member)
        if attrs.max_occurs > 1 or attrs.read_only or issubclass(member, XmlAttribute):
            return None
        handler = protocol.deserialization_handlers[member]
        if handler == protocol.unicode_from_element:
            empty: str | None = ""  # spyne reads an empty Unicode element as ""
        elif handler == protocol.base_from_element:
            empty = None
        else:  # a record, an array, an enumeration, binary or XML content: spyne's own reader
            plan[key] = (member, None, None, False, None)
            continue
        convert = protocol._from_unicode_handlers[member]
        plan[key] = (member, convert, empty, attrs.empty_is_none, attrs.default)
    return plan


def _blank(cls: Any) -> dict[str, Any] | None:
    """The attributes of the instance `cls.get_deserialization_instance` makes, when it makes it with
    ComplexModelBase's own constructor and no member's default comes from a factory: then every instance
    starts with the same attributes (each member's default or None), and a copy of them is that instance
    without running the constructor's walk of the members. None otherwise."""
    makes_own = (
        getattr(cls.get_deserialization_instance, "__func__", None)
        is ComplexModelBase.get_deserialization_instance.__func__
        and cls.__orig__ is None
        and type(cls).__call__ is type.__call__
        and cls.__new__ is object.__new__
        and cls.__init__ is ComplexModelBase.__init__
    )
    if not makes_own or any(
        m.Attributes.default_factory is not None for m in cls.get_flat_type_info(cls).values()
    ):
        return None
    return dict(cls().__dict__)


def reader(protocol: Any, cls: Any) -> Callable[[Any, Any, Any], Any] | None:
    """A spyne deserialisation handler for `cls`, or None when it is not a plain record."""
    plan = _plan(protocol, cls)
    if plan is None:
        return None
    from_element = protocol.from_element
    nil_default = protocol.replace_null_with_default
    planned, blank, new = cls, _blank(cls), object.__new__

    def read(ctx: Any, cls: Any, element: Any) -> Any:
        if blank is not None and cls is planned:
            inst = new(cls)
            inst.__dict__.update(blank)
        else:
            inst = cls.get_deserialization_instance(ctx)
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # a comment or processing instruction
            key = tag.rpartition("}")[2]
            step = plan.get(key)
            if step is None:
                continue
            member, convert, empty, empty_is_none, default = step
            attributes = child.keys()  # mostly none, and then neither xsi:type nor xsi:nil to look up
            if convert is None or (attributes and child.get(XSI_TYPE) is not None):
                value = from_element(ctx, member, child)
            elif attributes and child.get(XSI_NIL):
                value = default if nil_default else None
            else:
                text = child.text
                if text is None:
                    text = empty
                if text is None or (not text and empty_is_none):
                    value = None
                else:
                    value = convert(member, text)
            setattr(inst, key, value)
        return inst

    return read


def install(protocol: Any) -> None:
    """Read `User` and the request wrappers of the protocol's Application with `reader` (only behind a
    schema-validating protocol, once the Application exists)."""
    assert protocol.validator is protocol.SCHEMA_VALIDATION, "the fast reader relies on schema validation"
    classes = [User]
    for service in protocol.app.services:
        classes.extend(method.in_message for method in service.public_methods.values())
    for cls in classes:
        read = reader(protocol, cls)
        if read is not None:
            protocol.deserialization_handlers[cls] = read
