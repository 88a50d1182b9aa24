"""Value rules: the ULN check digit, grade length, paging limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from lrs_ws.domain.errors import GradeTooLong, InvalidUln, InvalidValue
from lrs_ws.domain.values import (
    MAX_GRADE_LENGTH,
    Page,
    check_characters,
    check_email,
    check_grade,
    check_text,
    check_uln,
    uln_is_valid,
)

# -- ULN -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uln", ["3415521949", "8659377485", "1234567899", "1604938268", "1975308637", "1000000000"]
)
def test_the_seed_and_demo_ulns_have_a_valid_check_digit(uln: str) -> None:
    assert uln_is_valid(uln)
    assert check_uln(uln) == uln


@pytest.mark.parametrize("uln", ["3415521940", "3415521948", "8659377484", "8659377486"])
def test_a_wrong_check_digit_is_invalid(uln: str) -> None:
    assert not uln_is_valid(uln)


@pytest.mark.parametrize("prefix", ["100000006", "100000023", "100000037"])
def test_a_weighted_sum_with_remainder_zero_has_no_valid_check_digit(prefix: str) -> None:
    assert sum(int(d) * w for d, w in zip(prefix, range(10, 1, -1), strict=True)) % 11 == 0
    assert not any(uln_is_valid(f"{prefix}{digit}") for digit in range(10))


@pytest.mark.parametrize(
    "uln",
    [
        "0415521949",  # leading 0
        "341552194",  # 9 digits
        "34155219490",  # 11 digits
        "34155A1949",  # a letter
        "3415 21949",
        "",
        "３４１５５２１９４９",  # full-width digits are not ASCII digits
    ],
)
def test_malformed_ulns_are_invalid(uln: str) -> None:
    assert not uln_is_valid(uln)
    with pytest.raises(InvalidUln):
        check_uln(uln)


def test_no_uln_at_all_is_invalid() -> None:
    assert not uln_is_valid(None)
    with pytest.raises(InvalidUln):
        check_uln(None)


def test_surrounding_spaces_are_trimmed_from_a_valid_uln() -> None:
    assert check_uln(" 3415521949 ") == "3415521949"


def _expected_check_digit(prefix: str) -> int | None:
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(prefix)) % 11
    return None if remainder == 0 else 10 - remainder


@given(st.integers(min_value=100_000_000, max_value=999_999_999))
def test_every_nine_digit_prefix_has_exactly_the_check_digit_the_rule_gives(prefix_number: int) -> None:
    prefix = str(prefix_number)
    valid = [d for d in range(10) if uln_is_valid(f"{prefix}{d}")]
    expected = _expected_check_digit(prefix)
    assert valid == ([] if expected is None else [expected])


# -- grade ---------------------------------------------------------------------------------------------------


def test_a_grade_of_twenty_characters_is_accepted() -> None:
    assert check_grade("A" * 20) == "A" * 20
    assert MAX_GRADE_LENGTH == 20


def test_a_grade_of_twenty_one_characters_is_refused() -> None:
    with pytest.raises(GradeTooLong) as caught:
        check_grade("A" * 21)
    assert caught.value.length == 21 and caught.value.maximum == 20


def test_an_empty_grade_means_no_grade() -> None:
    assert check_grade("") == ""
    assert check_grade(None) == ""
    assert check_grade("   ") == ""


def test_a_grade_is_free_text() -> None:
    assert check_grade("Distinction*") == "Distinction*"
    assert check_grade("Pass (Merit) / 2:1") == "Pass (Merit) / 2:1"


def test_a_grade_is_trimmed_before_its_length_is_checked() -> None:
    assert check_grade("  " + "B" * 20 + "  ") == "B" * 20


def test_a_grade_with_control_characters_is_refused() -> None:
    with pytest.raises(InvalidValue):
        check_grade("Pa\x00ss")


# -- paging --------------------------------------------------------------------------------------------------


def test_a_page_defaults_to_the_first_with_the_default_size() -> None:
    page = Page.of(None, None, default_size=50, max_size=500)
    assert (page.number, page.size, page.offset) == (1, 50, 0)


def test_a_page_offset_counts_the_rows_of_the_pages_before_it() -> None:
    assert Page.of(3, 20, default_size=50, max_size=500).offset == 40


@pytest.mark.parametrize("size", [1, 500])
def test_page_sizes_from_one_to_the_maximum_are_accepted(size: int) -> None:
    assert Page.of(1, size, default_size=50, max_size=500).size == size


@pytest.mark.parametrize("size", [0, -1, 501])
def test_page_sizes_outside_one_to_the_maximum_are_refused(size: int) -> None:
    with pytest.raises(InvalidValue) as caught:
        Page.of(1, size, default_size=50, max_size=500)
    assert caught.value.field == "pageSize"


@pytest.mark.parametrize("number", [0, -5, 1_000_001])
def test_page_numbers_below_one_or_absurdly_large_are_refused(number: int) -> None:
    with pytest.raises(InvalidValue) as caught:
        Page.of(number, 10, default_size=50, max_size=500)
    assert caught.value.field == "pageNumber"


# -- characters no stored text may hold ------------------------------------------------------------------

_XML_FORBIDDEN = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF)]
_DISCOURAGED = [chr(c) for c in (*range(0x7F, 0xA0), *range(0xFDD0, 0xFDF0))] + [
    chr(plane << 16 | end) for plane in range(1, 17) for end in (0xFFFE, 0xFFFF)
]


@pytest.mark.parametrize(
    "bad", [*_XML_FORBIDDEN, *_DISCOURAGED, "\ud800", "\udfff"], ids=lambda c: f"U+{ord(c):04X}"
)
def test_every_character_xml_cannot_carry_or_discourages_is_a_field_error_naming_it(bad: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_text("MisIdentifier", f"AB{bad}C", 50)
    assert refused.value.field == "MisIdentifier"
    assert f"(U+{ord(bad):04X} at position 3)" in refused.value.message
    with pytest.raises(InvalidValue):
        check_grade(f"Pass{bad}")


@settings(max_examples=500)
@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=30))
def test_text_the_rule_accepts_can_always_be_answered_in_xml(value: str) -> None:
    try:
        accepted = check_characters("Grade", value)
    except InvalidValue:
        return
    element = etree.Element("Grade")
    element.text = accepted
    assert etree.fromstring(etree.tostring(element)).text in (accepted, None)


def test_tab_line_feed_and_carriage_return_inside_text_are_kept() -> None:
    assert check_text("ActionReason", "line one\r\nline\ttwo", 200) == "line one\r\nline\ttwo"


# -- e-mail addresses --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["mi@demo1.example", "first.last+batch@mail.example.co.uk", " mi@demo1.example ", "o'neil@x.example"],
)
def test_one_plain_address_is_accepted(address: str) -> None:
    assert check_email(address) == address.strip()


@pytest.mark.parametrize(
    "address",
    [
        "postmaster,mi@example.com",
        "a;b@example.com",
        "mi@example.com,other@example.com",
        "mi@example.com\r\nBcc: x@example.org",
        "mi@example.com\n",
        "MI <mi@example.com>",
        '"a b"@example.com',
        "mi@example.com (MI team)",
        "mi@@example.com",
        "mi@example",
        "mi@-example.com",
        ".mi@example.com",
        "mi..x@example.com",
        "mi@exa mple.com",
        "mi\x00@example.com",
        "mï@example.com",
        "",
        None,
        "a" * 65 + "@example.com",
    ],
)
def test_a_list_display_name_header_or_malformed_address_is_refused_with_one_clear_message(address) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_email(address)
    assert refused.value.field == "EmailAddress"
    assert "exactly one plain address" in refused.value.message
