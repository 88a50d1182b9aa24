"""Every CSV/XLSX cell the service writes reads back exactly as written and never as a formula."""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from lrs_ws.domain import batch as b
from lrs_ws.service import batch_codec
from lrs_ws.spreadsheet import FORMULA_START, csv_text, safe_cell

# Every code point, control characters and lone surrogates included; biased towards the dangerous ones.
DANGEROUS = "=+-@'\"\t\r\n\x0b\x0c\x00\x1c\x85\u2028\u2029\u200b\ufeff \xa0\uff1d,;|"
ANY_CHAR = st.one_of(st.sampled_from(DANGEROUS), st.characters(codec=None, exclude_categories=()))
TEXT = st.text(ANY_CHAR, max_size=40)
ROWS = st.lists(st.lists(TEXT, min_size=1, max_size=6), min_size=1, max_size=6)

_SKIPPED_BY_SPREADSHEETS = {"Zs", "Zl", "Zp", "Cc", "Cf"}


def stored_row(row: dict[str, str | None]) -> str:
    """A file's row as the batch stores it."""
    return batch_codec.encode_values(batch_codec.row_values(row))


def read_back(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def starts_like_a_formula(cell: str) -> bool:
    """What a spreadsheet sees first once it skips leading blanks, line breaks and invisible characters."""
    if cell.startswith("'"):
        return False
    rest = cell.lstrip()
    while rest and unicodedata.category(rest[0]) in _SKIPPED_BY_SPREADSHEETS:
        rest = rest[1:].lstrip()
    return rest[:1] in FORMULA_START or rest[:1] in ("\t", "\r", "\n")


@settings(max_examples=400, deadline=None)
@given(ROWS)
def test_a_csv_parses_back_into_exactly_the_rows_and_cells_meant(rows: list[list[str]]) -> None:
    text = csv_text(rows)
    assert read_back(text) == [[safe_cell(c) for c in row] for row in rows]


@settings(max_examples=400, deadline=None)
@given(ROWS)
def test_no_cell_and_no_line_of_a_csv_begins_with_a_formula_character(rows: list[list[str]]) -> None:
    text = csv_text(rows)
    for row in read_back(text):
        for cell in row:
            assert not starts_like_a_formula(cell), cell
    # Read as plain lines, too: one record per line, and every line starts with a quote.
    lines = text.split("\r\n")
    assert lines[-1] == "" and len(lines) == len(rows) + 1
    assert all(line.startswith('"') and len(line.splitlines()) == 1 for line in lines[:-1])


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_a_cell_keeps_harmless_text_and_carries_no_control_character(value: str) -> None:
    cell = safe_cell(value)
    if value.isascii() and value.isprintable() and value[:1] not in FORMULA_START and value[:1] != " ":
        assert cell == value
    assert bool(cell) == bool(value)
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in cell)
    assert not any(c in "\ufffe\uffff" for c in cell)


def failed(mis: str, message: str = "The ULN is not valid.") -> b.FailedRecord:
    return b.FailedRecord(
        4,
        stored_row({"MisIdentifier": mis, "Uln": "1", "UnitOrQualificationReferenceNumber": "X"}),
        "WSEC0136",
        message,
    )


def test_a_line_break_in_a_value_cannot_start_a_formula_row_in_the_error_file() -> None:
    text = batch_codec.error_file(
        [failed('A1\r=HYPERLINK("http://x")'), failed("B2\n+1+1"), failed("C3\r\n@SUM(1)")]
    )
    assert text is not None
    rows = read_back(text)
    assert len(rows) == 4 and all(len(r) == len(batch_codec.ERROR_FILE_HEADER) for r in rows)
    assert [r[1] for r in rows[1:]] == ['A1 =HYPERLINK("http://x")', "B2 +1+1", "C3  @SUM(1)"]
    for line in text.splitlines():
        assert line.startswith('"')


def test_a_value_starting_with_a_blank_or_invisible_character_before_a_formula_is_text() -> None:
    text = csv_text([[" =1+1", "\t-1+1", "\u200b=1", "\ufeff@A1", "\uff1d1+1"]])
    assert read_back(text) == [["' =1+1", "' -1+1", "'\u200b=1", "'\ufeff@A1", "'\uff1d1+1"]]


def test_a_control_character_is_shown_as_a_replacement_character_and_the_message_is_kept() -> None:
    text = batch_codec.error_file([failed("A\x0bB\uffff", message="-bad")])
    assert text is not None
    assert read_back(text)[1][1:6] == ["A B\ufffd", "1", "X", "WSEC0136", "'-bad"]


def test_a_date_is_written_as_iso_and_none_as_an_empty_cell() -> None:
    assert read_back(csv_text([[date(2024, 2, 29), None, 7]])) == [["2024-02-29", "", "7"]]


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=5))
def test_an_xlsx_cell_holds_exactly_the_safe_text_and_never_a_formula(values: list[str]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([safe_cell(v) for v in values])
    buffer = io.BytesIO()
    workbook.save(buffer)
    row = next(load_workbook(io.BytesIO(buffer.getvalue())).active.iter_rows(min_row=1, max_row=1))
    for cell, value in zip(row, values, strict=False):
        assert cell.data_type != "f"
        assert (cell.value or "") == safe_cell(value)
