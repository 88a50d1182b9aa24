"""The one ErrorCode table: the code each refusal gets, and the README and docs listing exactly its codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lrs_ws.domain import errors as e
from lrs_ws.domain.batch import BUSINESS_ERROR, FIELD_ERROR, LEARNER_ERROR
from lrs_ws.domain.error_codes import (
    ERROR_CODES,
    INTERNAL_ERROR,
    SUCCESS,
    error_code,
    record_error,
    row_for,
)

REPO = Path(__file__).resolve().parents[2]
_CODE = re.compile(r"WS[ER]C[0-9]{4}")
_RANGE = re.compile(r"(WS[ER]C)([0-9]{4})[–-]([0-9]{4})")


def _all_subclasses(kind: type) -> list[type]:
    found = []
    for sub in kind.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def _codes_in(text: str) -> set[str]:
    codes = set(_CODE.findall(text))
    for prefix, first, last in _RANGE.findall(text):
        codes |= {f"{prefix}{n:04d}" for n in range(int(first), int(last) + 1)}
    return codes


def _reference_rows() -> dict[str, list[str]]:
    """docs/operations-reference.md's ErrorCode list: code -> [meaning, raised for, batch category]."""
    text = (REPO / "docs" / "operations-reference.md").read_text(encoding="utf-8")
    section = text.split("## ErrorCode list", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and _CODE.fullmatch(cells[0].strip("`")):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


TABLE_CODES = {row.code for row in ERROR_CODES.values()}


def test_each_code_has_one_row_in_the_table() -> None:
    assert len(TABLE_CODES) == len(ERROR_CODES)
    assert INTERNAL_ERROR.code not in TABLE_CODES and SUCCESS not in TABLE_CODES


def test_every_domain_error_answers_with_a_code_of_its_own_or_its_parents() -> None:
    kinds = [k for k in _all_subclasses(e.DomainError) if k is not e.BatchRefused]
    without = [k.__name__ for k in kinds if row_for(k) is None]
    assert without == []


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (e.TooManyAttempts(), "WSEC0003"),
        (e.UnderMaintenance("closed until 17:00"), "WSEC0004"),
        (e.GradeTooLong(21, 20), "WSEC0101"),
        (e.FutureDate("AchievementAwardDate"), "WSEC0102"),
        (e.InvalidValue("Gender", "bad"), "WSEC0103"),
        (e.LearnerNotFound("3415521949"), "WSEC0104"),
        (e.UnknownUser("someone"), "WSEC0105"),
        (e.LearnerMismatch(), "WSEC0111"),
        (e.TooManyAchievements(3, 2), "WSEC0046"),
        (e.NoAchievements("none"), "WSEC0047"),
        (e.DomainError("a refusal without a row"), "WSEC0199"),
    ],
)
def test_a_refusal_takes_the_code_of_its_nearest_type_with_a_row(error: e.DomainError, code: str) -> None:
    assert error_code(error) == code


def test_a_batch_record_is_counted_in_its_code_s_category_and_anything_else_as_an_internal_error() -> None:
    assert record_error(e.InvalidUln) == ("WSEC0136", FIELD_ERROR)
    assert record_error(e.LearnerMismatch) == ("WSEC0111", LEARNER_ERROR)
    assert record_error(e.FutureDate) == ("WSEC0102", BUSINESS_ERROR)
    assert record_error(e.SameUlnTransfer) == ("WSEC0199", BUSINESS_ERROR)
    assert record_error(None) == ("WSEC0199", BUSINESS_ERROR)


def test_the_operations_reference_lists_every_code_with_its_errors_and_batch_category() -> None:
    rows = _reference_rows()
    assert set(rows) == TABLE_CODES | {INTERNAL_ERROR.code, SUCCESS}
    for kind, row in ERROR_CODES.items():
        _meaning, raised_for, category = rows[row.code]
        assert f"`{kind.__name__}`" in raised_for, row.code
        assert category == (row.category or "—"), row.code
    assert rows[INTERNAL_ERROR.code][2] == INTERNAL_ERROR.category


def test_the_readme_names_every_error_code_and_no_other() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    paragraph = readme.split("\nError codes: ", 1)[1].split("\n\n", 1)[0]
    assert _codes_in(paragraph) == TABLE_CODES | {INTERNAL_ERROR.code}


def test_the_batch_guide_gives_each_record_code_its_category() -> None:
    categories = {row.code: row.category for row in ERROR_CODES.values()}
    categories[INTERNAL_ERROR.code] = INTERNAL_ERROR.category
    text = (REPO / "docs" / "batch.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| (\w+Error)s \| `(WS[ER]C[0-9]{4})` \|", text, re.MULTILINE)
    assert listed
    assert {code: category for category, code in listed} == {code: categories[code] for _, code in listed}
