"""Value rules: the ULN check digit, grade length, paging limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrs_ws.domain.errors import GradeTooLong, InvalidUln, InvalidValue
from lrs_ws.domain.values import MAX_GRADE_LENGTH, Page, check_grade, check_uln, uln_is_valid

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
