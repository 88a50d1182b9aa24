"""A faster writer for the results of the hot reads (`LearnerAchievements`, `AchievementSummary`).

spyne's generic complex-type writer looks up each member's attributes, namespace and handler on every value
of every call; for GetLearnerAchievements that is most of the CPU spyne spends on the answer. These types
are plain records (text members, nested records and arrays of records), so the walk spyne does is planned
once per type at start-up and then replayed with lxml: each value is converted by spyne's own converter for
its declared type, in spyne's member order; an absent optional member is left out and an absent mandatory
one written as xsi:nil, as spyne does. An array item whose members are all text and all present (every
AchievementSummary of a page) is a copy of a template element with its texts filled in, which lxml makes in C
(15–30 % less for the writer, more the longer the page). The bytes on the wire are spyne's
(tests/unit/test_fast_results.py compares both writers element for element); a value lxml refuses raises as it
does under spyne's writer.

`write_response` writes the whole answer of an operation returning one of these types (Envelope, Body, the
operation's wrapper and its result) the way Soap11.serialize does, without spyne's generic walk of the
wrapper message.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any

from lxml import etree
from spyne import BODY_STYLE_WRAPPED
from spyne.model.complex import Array, ComplexModelBase
from spyne.protocol.xml import NIL_ATTR

from lrs_ws.soap import portal_types as t

FAST_TYPES = (t.LearnerAchievements, t.AchievementSummary)

# _STR: a text member spyne's converter hands back unchanged when it is a str (no format, no encoding).
_STR, _TEXT, _RECORD, _ARRAY = range(4)
# (kind, tag, attribute, converter or plan, declared type or item tag, mandatory)
Step = tuple[int, str, str, Any, Any, bool]


def _texts(steps: list[Step], inst: Any) -> list[str] | None:
    """The texts of a record whose members are all text, each present; None when one is absent."""
    texts = []
    for kind, _tag, name, how, what, _mandatory in steps:
        value = getattr(inst, name, None)
        if value is None:
            return None
        texts.append(value if kind == _STR and type(value) is str else how(what, value))
    return texts


def _template(steps: list[Step], tag: str, nsmap: dict[str, str] | None) -> etree._Element | None:
    """An item element with one child per member (texts to fill), when every member is text."""
    if any(kind > _TEXT for kind, *_ in steps):
        return None
    element = etree.Element(tag, nsmap=nsmap)
    for _kind, child_tag, *_ in steps:
        etree.SubElement(element, child_tag)
    return element


def _plan(protocol: Any, cls: Any) -> list[Step]:
    ns = cls.get_namespace()
    steps: list[Step] = []
    for name, member in cls._type_info.items():
        attrs = member.Attributes
        assert attrs.sub_ns is None and attrs.sub_name is None, f"{cls.__name__}.{name}: renamed member"
        tag = f"{{{ns}}}{name}"
        mandatory = attrs.min_occurs > 0
        if issubclass(member, Array):
            ((item_name, item),) = member._type_info.items()
            item_tag = f"{{{member.get_namespace()}}}{item_name}"
            steps.append((_ARRAY, tag, name, _plan(protocol, item), item_tag, mandatory))
        elif issubclass(member, ComplexModelBase):
            steps.append((_RECORD, tag, name, _plan(protocol, member), None, mandatory))
        else:
            how = protocol._to_unicode_handlers[member]
            member_attrs = protocol.get_cls_attrs(member)
            plain = (
                how == protocol.unicode_to_unicode
                and member_attrs.str_format is None
                and member_attrs.format is None
            )
            steps.append((_STR if plain else _TEXT, tag, name, how, member, mandatory))
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
            sub(elt, tag).text = how(what, value)
        elif kind == _RECORD:
            _write(how, value, sub(elt, tag))
        else:
            holder = sub(elt, tag)
            template = _TEMPLATES.get(what)
            for item in value:
                if item is None:
                    sub(holder, what, NIL_ATTR)
                    continue
                texts = _texts(how, item) if template is not None else None
                if template is None or texts is None:
                    _write(how, item, sub(holder, what))
                    continue
                # A copy of the item's elements, made in C, costs less than making them one by one.
                copied = deepcopy(template)
                holder.append(copied)
                for child, text in zip(copied, texts, strict=True):
                    child.text = text


# Array item tag: a template of the item (see _template), made by `install` for items of plain text members.
_TEMPLATES: dict[str, etree._Element] = {}


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


# Protocol attribute: {response message class: (wrapper tag, result tag, result type, plan)}.
RESPONSES = "fast_responses"


def _responses(protocol: Any) -> dict[Any, tuple[str, str, Any, list[Step]]]:
    plans: dict[Any, list[Step]] = {cls: _plan(protocol, cls) for cls in FAST_TYPES}
    found = {}
    # A protocol not (yet) part of an Application has no operations to answer.
    for service in protocol.app.services if protocol.app is not None else ():
        for method in service.public_methods.values():
            message = method.out_message
            if method.body_style is not BODY_STYLE_WRAPPED or len(message._type_info) != 1:
                continue
            ((name, member),) = message._type_info.items()
            if member not in plans or member.Attributes.sub_ns or member.Attributes.sub_name:
                continue
            ns = message.get_namespace()
            found[message] = (f"{{{ns}}}{message.get_type_name()}", f"{{{ns}}}{name}", member, plans[member])
    return found


def write_response(protocol: Any, ctx: Any) -> bool:
    """Write `ctx`'s successful answer into ctx.out_document as Soap11.serialize would, when it is one of
    the hot reads' results; False (nothing done) for anything else."""
    found = getattr(protocol, RESPONSES, {}).get(ctx.descriptor.out_message)
    if found is None or ctx.out_header is not None or not ctx.out_object or ctx.out_object[0] is None:
        return False
    wrapper_tag, result_tag, cls, steps = found
    protocol.event_manager.fire_event("before_serialize", ctx)
    ns_env = protocol.ns_soap_env
    ctx.out_document = etree.Element(f"{{{ns_env}}}Envelope", nsmap=protocol.app.interface.nsmap)
    ctx.out_body_doc = body = etree.Element(f"{{{ns_env}}}Body")
    result = etree.SubElement(etree.SubElement(body, wrapper_tag), result_tag)
    _write(steps, cls.get_serialization_instance(ctx.out_object[0]), result)
    ctx.out_document.append(body)
    if protocol.cleanup_namespaces:
        etree.cleanup_namespaces(ctx.out_document)
    protocol.event_manager.fire_event("after_serialize", ctx)
    return True


def install(protocol: Any) -> None:
    """Write the hot reads' result types with `writer`, and their operations' answers with
    `write_response`, on this (output) protocol, once an Application has resolved the types' namespaces."""
    for cls in FAST_TYPES:
        protocol.serialization_handlers[cls] = writer(protocol, cls)
        for kind, _tag, _name, how, what, _mandatory in _plan(protocol, cls):
            nsmap = protocol.app.interface.nsmap if protocol.app is not None else None
            template = _template(how, what, nsmap) if kind == _ARRAY else None
            if template is not None:
                _TEMPLATES[what] = template
    setattr(protocol, RESPONSES, _responses(protocol))
