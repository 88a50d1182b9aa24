"""Learner verification: does what an AO holds about a learner match the register?

The answer is one of the LRS response codes WSVRC001-006 and the failure flags VRF1-8; nothing else about the
register entry (no name, date or other ULN but a linked learner's master ULN) is ever returned.

Names are compared two ways:

- **exactly**: equal once surrounding spaces are dropped and case is ignored (as batch records are checked);
- **similarly**: equal once case, diacritics (``Zoë`` = ``Zoe``), spaces, hyphens, apostrophes and full
  stops are ignored (``Mary-Jane`` = ``Mary Jane`` = ``maryjane``, ``O'Brien`` = ``OBrien`` = ``O’Brien``).

Each supplied name is tried against the register's names in a fixed order, stopping at the first that matches
similarly; every comparison tried that is not an exact match raises its flag:

- given name: register given name (VRF1), then family name (VRF2), then previous family name (VRF3);
- family name: register family name (VRF5), then previous family name (VRF6), then given name (VRF4).

A comparison with a previous family name is made only when the register holds one. The names match when each
found a register name and exactly one of the two is the register's given name: as registered, with the
previous family name, or swapped. Date of birth, when supplied and registered, must be equal (VRF7 otherwise,
and the learner does not match). Gender is compared only when both sides say male (1) or female (2); a
difference raises VRF8 and makes the match at best similar.

Exact match (WSVRC001): the names match with no flag. Similar match (WSVRC003): they match with flags. A ULN
merged into another answers for the master's entry with WSVRC002 / WSVRC004 instead. Anything else: WSVRC005.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

EXACT_MATCH = "WSVRC001"
LINKED_MATCH = "WSVRC002"
SIMILAR_MATCH = "WSVRC003"
LINKED_SIMILAR_MATCH = "WSVRC004"
NO_MATCH = "WSVRC005"
ULN_NOT_FOUND = "WSVRC006"

RESPONSE_CODES = {
    EXACT_MATCH: "Exact match",
    LINKED_MATCH: "Linked learner match",
    SIMILAR_MATCH: "Similar match",
    LINKED_SIMILAR_MATCH: "Linked learner similar match",
    NO_MATCH: "Learner does not match",
    ULN_NOT_FOUND: "ULN not found",
}

GIVEN_VS_GIVEN = "VRF1"
GIVEN_VS_FAMILY = "VRF2"
GIVEN_VS_PREVIOUS_FAMILY = "VRF3"
FAMILY_VS_GIVEN = "VRF4"
FAMILY_VS_FAMILY = "VRF5"
FAMILY_VS_PREVIOUS_FAMILY = "VRF6"
DATE_OF_BIRTH = "VRF7"
GENDER = "VRF8"

FAILURE_FLAGS = {
    GIVEN_VS_GIVEN: "Given name does not match given name",
    GIVEN_VS_FAMILY: "Given name does not match family name",
    GIVEN_VS_PREVIOUS_FAMILY: "Given name does not match previous family name",
    FAMILY_VS_GIVEN: "Family name does not match given name",
    FAMILY_VS_FAMILY: "Family name does not match family name",
    FAMILY_VS_PREVIOUS_FAMILY: "Family name does not match previous family name",
    DATE_OF_BIRTH: "Date of birth does not match",
    GENDER: "Gender does not match",
}

# Punctuation and spacing that names are written with or without: hyphens and dashes, apostrophes and
# their typographic look-alikes, full stops, and white space.
_IGNORED_IN_SIMILAR = frozenset("-\u2010\u2011\u2012\u2013\u2014'\u2018\u2019\u02bc`\u00b4. \t")
_KNOWN_GENDERS = (1, 2)
_GIVEN, _FAMILY, _PREVIOUS = "given", "family", "previous"


@dataclass(frozen=True)
class Claim:
    """What the caller holds about the learner; names already checked (1-35 characters)."""

    given_name: str
    family_name: str
    date_of_birth: date | None = None
    gender: int | None = None


@dataclass(frozen=True)
class RegisterEntry:
    given_name: str
    family_name: str
    previous_family_name: str | None = None
    date_of_birth: date | None = None
    gender: int = 0


@dataclass(frozen=True)
class Verification:
    response_code: str
    failure_flags: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        return self.response_code in (EXACT_MATCH, LINKED_MATCH, SIMILAR_MATCH, LINKED_SIMILAR_MATCH)


def exact_key(name: str) -> str:
    return name.strip().casefold()


def similar_key(name: str) -> str:
    """The name with case, diacritics, spaces, hyphens, apostrophes and full stops ignored."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c) and c not in _IGNORED_IN_SIMILAR)


def _first_match(
    supplied: str, candidates: list[tuple[str, str | None, str]], flags: list[str]
) -> str | None:
    """Which register name `supplied` matches (trying `candidates` in order), adding the flag of every
    comparison tried that is not exact."""
    for target, registered, flag in candidates:
        if not registered:
            continue
        if exact_key(supplied) == exact_key(registered):
            return target
        flags.append(flag)
        if similar_key(supplied) == similar_key(registered):
            return target
    return None


def verify(claim: Claim, entry: RegisterEntry | None, *, linked: bool = False) -> Verification:
    """The verification answer for `claim` against the register `entry` (None: the ULN is not registered).
    `linked`: the ULN given was merged into the one whose entry this is."""
    if entry is None:
        return Verification(ULN_NOT_FOUND)
    flags: list[str] = []
    given_target = _first_match(
        claim.given_name,
        [
            (_GIVEN, entry.given_name, GIVEN_VS_GIVEN),
            (_FAMILY, entry.family_name, GIVEN_VS_FAMILY),
            (_PREVIOUS, entry.previous_family_name, GIVEN_VS_PREVIOUS_FAMILY),
        ],
        flags,
    )
    family_target = _first_match(
        claim.family_name,
        [
            (_FAMILY, entry.family_name, FAMILY_VS_FAMILY),
            (_PREVIOUS, entry.previous_family_name, FAMILY_VS_PREVIOUS_FAMILY),
            (_GIVEN, entry.given_name, FAMILY_VS_GIVEN),
        ],
        flags,
    )
    names_match = (
        given_target is not None
        and family_target is not None
        and (given_target == _GIVEN) != (family_target == _GIVEN)
    )
    born_differs = (
        claim.date_of_birth is not None
        and entry.date_of_birth is not None
        and claim.date_of_birth != entry.date_of_birth
    )
    if born_differs:
        flags.append(DATE_OF_BIRTH)
    if claim.gender in _KNOWN_GENDERS and entry.gender in _KNOWN_GENDERS and claim.gender != entry.gender:
        flags.append(GENDER)
    ordered = tuple(sorted(flags, key=lambda f: int(f[3:])))
    if not names_match or born_differs:
        return Verification(NO_MATCH, ordered)
    if ordered:
        return Verification(LINKED_SIMILAR_MATCH if linked else SIMILAR_MATCH, ordered)
    return Verification(LINKED_MATCH if linked else EXACT_MATCH)
