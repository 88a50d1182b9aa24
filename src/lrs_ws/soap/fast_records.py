"""A faster reader for `Achievement` elements (a batch holds up to thousands of them).

spyne's generic complex-type reader costs about 0.2 ms per Achievement, most of the time a 5,000-record
SubmitAchievementBatchJob takes. By the time this runs the lxml validator has checked the request against the
schema (names, order, namespaces, types, required elements), so the element can be read directly: each child's
text goes through spyne's own conversion for its declared type (`from_unicode`), exactly as the generic reader
does it, and an `xsi:nil` child is None. The result is a plain object with the 15 attributes.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from spyne.model.primitive import Unicode

from lrs_ws.soap.lrs_types import Achievement

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def install(protocol: Any) -> None:
    """Read Achievement elements with `read_achievement` (only behind a schema-validating protocol)."""
    assert protocol.validator is protocol.SCHEMA_VALIDATION, "the fast reader relies on schema validation"
    members = dict(Achievement.get_flat_type_info(Achievement))
    names = tuple(members)

    def read_achievement(ctx: Any, cls: Any, element: Any) -> SimpleNamespace:
        values: dict[str, Any] = dict.fromkeys(names)
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # a comment or processing instruction
            name = tag.rpartition("}")[2]
            member = members.get(name)
            if member is None or child.get(XSI_NIL) in ("true", "1"):
                continue
            text = child.text
            if issubclass(member, Unicode):
                values[name] = protocol.from_unicode(member, text or "")
            else:
                values[name] = protocol.from_unicode(member, text)
        return SimpleNamespace(**values)

    protocol.deserialization_handlers[Achievement] = read_achievement
