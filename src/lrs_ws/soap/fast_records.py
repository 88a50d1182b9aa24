"""A faster reader for `Achievement` elements (a batch holds up to thousands of them).

spyne's generic complex-type reader costs about 0.2 ms per Achievement, most of the time a 5,000-record
SubmitAchievementBatchJob takes. By the time this runs the lxml validator has checked the request against the
schema (names, order, namespaces, types, required elements), so the element can be read directly: each child's
text goes through spyne's own conversion for its declared type (`from_unicode`), exactly as the generic reader
does it (its handler and class attributes looked up once per member rather than once per value), and an
`xsi:nil` child is None. The result is a plain object with the 15 attributes.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from spyne.model.primitive import Unicode

from lrs_ws.soap.lrs_contract_types import Achievement
from lrs_ws.soap.namespaces import XSI_NS

XSI_NIL = f"{{{XSI_NS}}}nil"


# Dates and numbers repeat from record to record (one award date for a whole batch): each distinct text is
# converted once. The values (datetime, int) are immutable, so sharing them is safe.
CONVERTED_CACHE_SIZE = 4096


def install(protocol: Any) -> None:
    """Read Achievement elements with `read_achievement` (only behind a schema-validating protocol)."""
    assert protocol.validator is protocol.SCHEMA_VALIDATION, "the fast reader relies on schema validation"
    members = dict(Achievement.get_flat_type_info(Achievement))
    names = tuple(members)
    # protocol.from_unicode, with its per-call look-ups (class attributes, handler) done once per member.
    handlers = {name: protocol._from_unicode_handlers[member] for name, member in members.items()}
    empty_is_none = {name: protocol.get_cls_attrs(member).empty_is_none for name, member in members.items()}
    texts = {name for name, member in members.items() if issubclass(member, Unicode)}

    def convert(name: str, text: str) -> Any:
        if not text and empty_is_none[name]:
            return None
        return handlers[name](members[name], text)

    converted = functools.lru_cache(maxsize=CONVERTED_CACHE_SIZE)(convert)

    def read_achievement(ctx: Any, cls: Any, element: Any) -> SimpleNamespace:
        values: dict[str, Any] = dict.fromkeys(names)
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # a comment or processing instruction
            name = tag.rpartition("}")[2]
            if name not in members or child.get(XSI_NIL) in ("true", "1"):
                continue
            text = child.text
            if name in texts:
                values[name] = convert(name, text or "")
            elif text is not None:
                values[name] = converted(name, text)
        return SimpleNamespace(**values)

    protocol.deserialization_handlers[Achievement] = read_achievement
