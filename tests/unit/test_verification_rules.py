"""The learner verification rules (domain/verification.py): which claims are exact, similar or no matches,
and which failure flags each raises."""

from __future__ import annotations

from datetime import date

import pytest

from lrs_ws.domain import errors as e
from lrs_ws.domain import model
from lrs_ws.domain.verification import (
    EXACT_MATCH,
    LINKED_MATCH,
    LINKED_SIMILAR_MATCH,
    NO_MATCH,
    SIMILAR_MATCH,
    ULN_NOT_FOUND,
    Claim,
    RegisterEntry,
    similar_key,
    verify,
)

BORN = date(2000, 6, 15)
SOPHIE = RegisterEntry("Sophie", "Turner", "Baker", BORN, 2)
MARY = RegisterEntry("Mary-Jane", "O'Brien", None, BORN, 2)
ZOE = RegisterEntry("Zoë", "Brontë", None, None, 0)

CASES = [
    # (why, entry, claim, expected code, expected flags)
    ("same names", SOPHIE, Claim("Sophie", "Turner"), EXACT_MATCH, ()),
    (
        "case and surrounding spaces are not differences",
        SOPHIE,
        Claim("  SOPHIE ", "turner "),
        EXACT_MATCH,
        (),
    ),
    ("same names, date of birth and gender", SOPHIE, Claim("Sophie", "Turner", BORN, 2), EXACT_MATCH, ()),
    ("gender 0 or 9 is not compared", SOPHIE, Claim("Sophie", "Turner", BORN, 9), EXACT_MATCH, ()),
    (
        "a date of birth the register lacks is not compared",
        ZOE,
        Claim("Zoë", "Brontë", BORN),
        EXACT_MATCH,
        (),
    ),
    ("a hyphen missing", MARY, Claim("Mary Jane", "O'Brien"), SIMILAR_MATCH, ("VRF1",)),
    ("no hyphen, no space", MARY, Claim("maryjane", "O'Brien"), SIMILAR_MATCH, ("VRF1",)),
    ("an apostrophe missing", MARY, Claim("Mary-Jane", "OBrien"), SIMILAR_MATCH, ("VRF5",)),
    ("a typographic apostrophe", MARY, Claim("Mary-Jane", "O\u2019Brien"), SIMILAR_MATCH, ("VRF5",)),
    ("spaces inside a name", MARY, Claim("Mary-Jane", "O' Brien"), SIMILAR_MATCH, ("VRF5",)),
    ("diacritics dropped", ZOE, Claim("Zoe", "Bronte"), SIMILAR_MATCH, ("VRF1", "VRF5")),
    ("diacritics added", SOPHIE, Claim("Sophié", "Turner"), SIMILAR_MATCH, ("VRF1",)),
    (
        "given and family names swapped",
        SOPHIE,
        Claim("Turner", "Sophie"),
        SIMILAR_MATCH,
        ("VRF1", "VRF5", "VRF6"),
    ),
    ("the previous family name", SOPHIE, Claim("Sophie", "Baker"), SIMILAR_MATCH, ("VRF5",)),
    (
        "the previous family name, swapped",
        SOPHIE,
        Claim("Baker", "Sophie"),
        SIMILAR_MATCH,
        ("VRF1", "VRF2", "VRF5", "VRF6"),
    ),
    ("the previous family name, similar", SOPHIE, Claim("Sophie", "BAKER-"), SIMILAR_MATCH, ("VRF5", "VRF6")),
    ("a different gender", SOPHIE, Claim("Sophie", "Turner", BORN, 1), SIMILAR_MATCH, ("VRF8",)),
    ("another given name", SOPHIE, Claim("Sofia", "Turner"), NO_MATCH, ("VRF1", "VRF2", "VRF3")),
    ("another family name", SOPHIE, Claim("Sophie", "Smith"), NO_MATCH, ("VRF4", "VRF5", "VRF6")),
    ("a different date of birth", SOPHIE, Claim("Sophie", "Turner", date(2000, 6, 16)), NO_MATCH, ("VRF7",)),
    (
        "a different date of birth and gender",
        SOPHIE,
        Claim("Sophie", "Turner", date(2001, 1, 1), 1),
        NO_MATCH,
        ("VRF7", "VRF8"),
    ),
    (
        "both names are the register's family names",
        SOPHIE,
        Claim("Turner", "Baker"),
        NO_MATCH,
        ("VRF1", "VRF5"),
    ),
    ("one register name matched twice", SOPHIE, Claim("Sophie", "Sophie"), NO_MATCH, ("VRF5", "VRF6")),
    (
        "without a previous family name it is never tried",
        MARY,
        Claim("Mary-Jane", "Smith"),
        NO_MATCH,
        ("VRF4", "VRF5"),
    ),
]


@pytest.mark.parametrize(
    ("entry", "claim", "code", "flags"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_claim_is_answered_with_the_code_and_flags_of_the_rules(
    entry: RegisterEntry, claim: Claim, code: str, flags: tuple[str, ...]
) -> None:
    answer = verify(claim, entry)
    assert (answer.response_code, answer.failure_flags) == (code, flags)


@pytest.mark.parametrize(
    ("claim", "code"),
    [
        (Claim("Sophie", "Turner"), LINKED_MATCH),
        (Claim("Sophie", "Baker"), LINKED_SIMILAR_MATCH),
        (Claim("Sam", "Smith"), NO_MATCH),
    ],
    ids=["exact", "similar", "no match"],
)
def test_a_linked_learner_answers_the_linked_codes_and_a_mismatch_stays_a_mismatch(
    claim: Claim, code: str
) -> None:
    assert verify(claim, SOPHIE, linked=True).response_code == code


def test_a_uln_not_on_the_register_is_not_found_without_flags() -> None:
    answer = verify(Claim("Sophie", "Turner"), None)
    assert (answer.response_code, answer.failure_flags, answer.matched) == (ULN_NOT_FOUND, (), False)


@pytest.mark.parametrize(
    ("written", "same_as"),
    [
        ("Mary-Jane", "mary jane"),
        ("O’Brien", "o'brien"),
        ("Zoë", "ZOE"),
        ("St. John", "stjohn"),
        ("Anne\u2013Marie", "annemarie"),
    ],
)
def test_similar_names_ignore_case_diacritics_spaces_hyphens_apostrophes_and_full_stops(
    written: str, same_as: str
) -> None:
    assert similar_key(written) == similar_key(same_as)


def test_similar_names_still_tell_different_letters_apart() -> None:
    assert similar_key("Ann") != similar_key("Anne")


# -- links (merged ULNs) -----------------------------------------------------------------------------------


def learner(uln: str, merged_into: str | None = None) -> model.LearnerData:
    return model.LearnerData(uln=uln, given_name="Sophie", family_name="Turner", merged_into=merged_into)


def test_a_uln_is_linked_into_a_master() -> None:
    old = learner("5719032648")
    old.link_into(learner("2406813575"), linked_into_self=[])
    assert old.merged_into == "2406813575"


@pytest.mark.parametrize(
    ("old", "master", "linked_into_old", "says"),
    [
        (learner("2406813575"), learner("2406813575"), [], "cannot be linked into itself"),
        (learner("5719032648", "1234567899"), learner("2406813575"), [], "already linked into 1234567899"),
        (
            learner("5719032648"),
            learner("2406813575", "1234567899"),
            [],
            "is itself linked into 1234567899: link 5719032648 into 1234567899 instead",
        ),
        (learner("5719032648"), learner("2406813575"), ["1234567899"], "is the master of 1234567899"),
    ],
    ids=["itself", "already linked", "chain through the master", "chain through the old ULN"],
)
def test_a_link_that_would_make_a_chain_or_cycle_is_refused_and_changes_nothing(
    old: model.LearnerData, master: model.LearnerData, linked_into_old: list[str], says: str
) -> None:
    before = old.merged_into
    with pytest.raises(e.LinkRefused) as refused:
        old.link_into(master, linked_into_self=linked_into_old)
    assert says in refused.value.message
    assert old.merged_into == before
