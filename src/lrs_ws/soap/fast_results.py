"""A faster writer for the results of the hot reads (`LearnerAchievements`, `AchievementSummary`).

spyne's generic complex-type writer looks up each member's attributes, namespace and handler on every value
of every call; for GetLearnerAchievements that is most of the CPU spyne spends on the answer. These types
are plain records (text members, nested records and arrays of records), so the walk spyne does is planned
once per type at start-up and then replayed with lxml, in spyne's member order; an absent optional member is
left out and an absent mandatory one written as xsi:nil, as spyne does. Each value is converted as spyne's
converter for its declared type converts it: spyne's converters look the type's attributes up again on every
value, so where those attributes make one equal to a plain function (an Integer, Date or Boolean with no
format of its own, text with none) the plan holds that function, which fails where spyne's fails (a value
that is no number for an Integer, nothing with `isoformat` for a Date); any other type keeps spyne's
converter. A record whose members are all present (every AchievementSummary of a page, the result of
either read) is a copy of a template element with one child per member, made in C, whose text members are
then filled in and whose array members are written into (15–30 % less for the writer, more the longer the
page); a record with a member absent is written member by member. The bytes on the wire are spyne's
(tests/unit/test_fast_results.py compares both writers element for element, and each planned converter with
spyne's); a value lxml refuses raises as it does under spyne's writer.

`write_response` writes the whole answer of an operation returning one of these types (Envelope, Body, the
operation's wrapper and its result) as Soap11.serialize does, without spyne's generic walk of the wrapper
message: Envelope, Body and wrapper are a copy of a tree made at start-up, and the result is written into it
as any record above. spyne writes the Body beside the Envelope and then moves it in; either way
cleanup_namespaces leaves every element using the Envelope's namespace declarations: the same tree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from lxml import etree
from spyne import BODY_STYLE_WRAPPED
from spyne.model.complex import Array, ComplexModelBase
from spyne.protocol import OutProtocolBase
from spyne.protocol.xml import NIL_ATTR

from lrs_ws.soap import portal_types as t

FAST_TYPES = (t.LearnerAchievements, t.AchievementSummary)

# _STR: a text member spyne's converter hands back unchanged when it is a str (no format, no encoding).
_STR, _TEXT, _RECORD, _ARRAY = range(4)
# (kind, tag, attribute, converter (value -> text) or the record's plan, (item tag, item template) of an
# array, mandatory)
Step = tuple[int, str, str, Any, Any, bool]
# (a maker of a copy of a record's element with one child per member, whether every member is text)
Template = tuple[Callable[[], etree._Element], bool]


def _integer(value: Any) -> str:
    """spyne's integer_to_unicode for an Integer with no str_format or format."""
    if type(value) is not int:
        int(value)  # spyne's sanity check: raises for a value that is no number
    return str(value)


def _date(value: Any) -> Any:
    """spyne's date_to_unicode for a Date with no serialize_as, date_format, str_format or format."""
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat()


def _boolean(value: Any) -> str:
    """spyne's boolean_to_unicode, str(bool(value)).lower(), which no attribute changes."""
    return "true" if value else "false"


# spyne's converter: (the plain function it equals, the type's attributes that must be unset for that, the
# protocol's methods it calls, which must be spyne's own).
_PLAIN: dict[Any, tuple[Callable[[Any], Any] | None, tuple[str, ...], tuple[str, ...]]] = {
    OutProtocolBase.unicode_to_unicode: (None, ("str_format", "format"), ()),
    OutProtocolBase.integer_to_unicode: (_integer, ("str_format", "format"), ()),
    OutProtocolBase.date_to_unicode: (
        _date,
        ("serialize_as", "date_format", "str_format", "format"),
        ("_date_to_bytes",),
    ),
    OutProtocolBase.boolean_to_unicode: (_boolean, (), ()),
}


def _converter(protocol: Any, member: Any) -> tuple[int, Callable[[Any], Any]]:
    """How `member`'s value becomes its text: (_STR, spyne's converter) for text spyne hands back as it is,
    else (_TEXT, the plain function spyne's converter equals for `member`'s attributes, or spyne's own)."""
    how = protocol._to_unicode_handlers[member]
    spynes = partial(how, member)
    known = _PLAIN.get(getattr(how, "__func__", None))
    # spyne's own function, bound to this protocol (not a subclass's override, not another protocol's)
    if known is None or how != getattr(protocol, how.__name__):
        return _TEXT, spynes
    plain, unset, calls = known
    member_attrs = protocol.get_cls_attrs(member)
    if any(member_attrs[attr] is not None for attr in unset) or any(
        getattr(type(protocol), call) is not getattr(OutProtocolBase, call) for call in calls
    ):
        return _TEXT, spynes
    return (_STR, spynes) if plain is None else (_TEXT, plain)


def _texts(steps: list[Step], inst: Any) -> list[Any] | None:
    """Each member's text (a record's or an array's value as it is) when every member is present; None when
    one is absent."""
    texts = []
    for kind, _tag, name, how, _what, _mandatory in steps:
        value = getattr(inst, name, None)
        if value is None:
            return None
        texts.append(how(value) if kind == _TEXT or (kind == _STR and type(value) is not str) else value)
    return texts


def _members(steps: list[Step], element: etree._Element) -> bool:
    """Give `element` one child per member of the record planned as `steps` (its text to fill, or its value
    to write into); whether every member is text."""
    for _kind, tag, *_ in steps:
        etree.SubElement(element, tag)
    return all(kind <= _TEXT for kind, *_ in steps)


def _template(steps: list[Step], tag: str, nsmap: dict[str, str] | None) -> Template:
    """A template of a record written as `tag` (an array's item, an answer's result), which declares the
    prefixes `nsmap` gives its namespaces."""
    if nsmap is not None:
        used = {etree.QName(each).namespace for each in (tag, *(step[1] for step in steps))}
        nsmap = {prefix: ns for prefix, ns in nsmap.items() if ns in used}
    element = etree.Element(tag, nsmap=nsmap)
    # copying an lxml element copies its subtree, in C
    return element.__copy__, _members(steps, element)


def _plan(protocol: Any, cls: Any) -> list[Step]:
    ns = cls.get_namespace()
    nsmap = protocol.app.interface.nsmap if protocol.app is not None else None
    steps: list[Step] = []
    for name, member in cls._type_info.items():
        attrs = member.Attributes
        assert attrs.sub_ns is None and attrs.sub_name is None, f"{cls.__name__}.{name}: renamed member"
        tag = f"{{{ns}}}{name}"
        mandatory = attrs.min_occurs > 0
        if issubclass(member, Array):
            ((item_name, item),) = member._type_info.items()
            item_tag = f"{{{member.get_namespace()}}}{item_name}"
            item_steps = _plan(protocol, item)
            item_template = _template(item_steps, item_tag, nsmap)
            steps.append((_ARRAY, tag, name, item_steps, (item_tag, item_template), mandatory))
        elif issubclass(member, ComplexModelBase):
            steps.append((_RECORD, tag, name, _plan(protocol, member), None, mandatory))
        else:
            kind, how = _converter(protocol, member)
            steps.append((kind, tag, name, how, None, mandatory))
    return steps


def _write(steps: list[Step], inst: Any, elt: etree._Element) -> None:
    sub = etree.SubElement
    for kind, tag, name, how, what, mandatory in steps:
        value = getattr(inst, name, None)
        if value is None:
            if mandatory:
                sub(elt, tag, NIL_ATTR)
        elif kind == _STR and type(value) is str:
            sub(elt, tag).text = value
        elif kind <= _TEXT:
            sub(elt, tag).text = how(value)
        elif kind == _RECORD:
            _write(how, value, sub(elt, tag))
        else:
            _items(how, what, value, sub(elt, tag))


def _items(steps: list[Step], item: tuple[str, Template], values: Any, holder: etree._Element) -> None:
    """An array's items written into `holder` (a missing item as xsi:nil)."""
    tag, template = item
    for value in values:
        if value is None:
            etree.SubElement(holder, tag, NIL_ATTR)
        else:
            _record(steps, template, value, holder, tag)


def _fill(steps: list[Step], flat: bool, texts: list[Any], element: etree._Element) -> None:
    """A copy of a record's template, `element`, given the record's texts (see _texts, _members)."""
    if flat:
        for child, text in zip(element, texts, strict=True):
            child.text = text
        return
    for child, text, (kind, _tag, _name, how, what, _mandatory) in zip(element, texts, steps, strict=True):
        if kind <= _TEXT:
            child.text = text
        elif kind == _RECORD:
            _write(how, text, child)
        else:
            _items(how, what, text, child)


def _record(steps: list[Step], template: Template, inst: Any, parent: etree._Element, tag: str) -> None:
    """`inst` written as a `tag` child of `parent`: a copy of its template, made in C, when every member is
    present, which costs less than making its elements one by one."""
    texts = _texts(steps, inst)
    if texts is None:
        _write(steps, inst, etree.SubElement(parent, tag))
        return
    make, flat = template
    element = make()
    parent.append(element)
    _fill(steps, flat, texts, element)


def writer(protocol: Any, cls: Any) -> Callable[..., None]:
    """A spyne serialisation handler for `cls` (an lxml tree parent; anything else goes to spyne's own)."""
    steps = _plan(protocol, cls)
    generic = protocol.complex_to_parent

    def to_parent(
        ctx: Any,
        cls: Any,
        inst: Any,
        parent: Any,
        ns: str,
        name: str | None = None,
        add_type: bool = False,
        **kwargs: Any,
    ) -> Any:
        if add_type or not isinstance(parent, etree._Element):
            return generic(ctx, cls, inst, parent, ns, name, add_type=add_type, **kwargs)
        tag = f"{{{ns}}}{name or cls.get_type_name()}"
        _write(steps, cls.get_serialization_instance(inst), etree.SubElement(parent, tag))
        return None

    return to_parent


# Protocol attribute: {response message class: Answer}.
RESPONSES = "fast_responses"


class Answer:
    """How one operation's answer is written: a maker of a copy of its Envelope, Body and wrapper (made as
    Soap11.serialize makes them), and the result's tag, type, plan and template."""

    __slots__ = ("cls", "result_tag", "shell", "steps", "template")

    def __init__(self, protocol: Any, message: Any, name: str, cls: Any) -> None:
        ns = message.get_namespace()
        soap = protocol.ns_soap_env
        nsmap = protocol.app.interface.nsmap
        # Every element below the Envelope uses the Envelope's prefixes, as spyne's do.
        shell = etree.Element(f"{{{soap}}}Envelope", nsmap=nsmap)
        body = etree.SubElement(shell, f"{{{soap}}}Body")
        etree.SubElement(body, f"{{{ns}}}{message.get_type_name()}")
        self.shell = shell.__copy__
        self.result_tag = f"{{{ns}}}{name}"
        self.cls = cls
        self.steps = _plan(protocol, cls)
        self.template = _template(self.steps, self.result_tag, nsmap)


def _responses(protocol: Any) -> dict[Any, Answer]:
    found = {}
    # A protocol not (yet) part of an Application has no operations to answer.
    for service in protocol.app.services if protocol.app is not None else ():
        for method in service.public_methods.values():
            message = method.out_message
            if method.body_style is not BODY_STYLE_WRAPPED or len(message._type_info) != 1:
                continue
            ((name, member),) = message._type_info.items()
            if member not in FAST_TYPES or member.Attributes.sub_ns or member.Attributes.sub_name:
                continue
            found[message] = Answer(protocol, message, name, member)
    return found


def write_response(protocol: Any, ctx: Any) -> bool:
    """Write `ctx`'s successful answer into ctx.out_document as Soap11.serialize would, when it is one of
    the hot reads' results; False (nothing done) for anything else."""
    answer = getattr(protocol, RESPONSES, {}).get(ctx.descriptor.out_message)
    if answer is None or ctx.out_header is not None or not ctx.out_object or ctx.out_object[0] is None:
        return False
    protocol.event_manager.fire_event("before_serialize", ctx)
    result = answer.cls.get_serialization_instance(ctx.out_object[0])
    ctx.out_document = envelope = answer.shell()
    ctx.out_body_doc = body = envelope[0]
    _record(answer.steps, answer.template, result, body[0], answer.result_tag)
    if protocol.cleanup_namespaces:
        etree.cleanup_namespaces(envelope)
    protocol.event_manager.fire_event("after_serialize", ctx)
    return True


def install(protocol: Any) -> None:
    """Write the hot reads' result types with `writer`, and their operations' answers with
    `write_response`, on this (output) protocol, once an Application has resolved the types' namespaces."""
    for cls in FAST_TYPES:
        protocol.serialization_handlers[cls] = writer(protocol, cls)
    setattr(protocol, RESPONSES, _responses(protocol))
