"""Cells and CSV files that a spreadsheet reads exactly as written, never as a formula.

Every CSV and XLSX the service writes (batch error files, their e-mailed copies, `lrs-ws batch status`, the
weekly EDC report) goes through `safe_cell`, and every CSV through `csv_writer`. The rule (docs/batch.md):

- a character that would break a row or that no file should carry (tab, line breaks of any kind, other
  control characters, surrogates, noncharacters) is replaced: tab and line breaks by a space, the others by
  U+FFFD, so each record is exactly one line and parses back the same with any CSV reader;
- a cell whose first character is a formula character (``= + - @`` or their full-width forms) or one a
  spreadsheet may skip before looking for a formula (a space, a format character such as U+200B or a BOM)
  gets an apostrophe in front, the prefix spreadsheets read as "text";
- every cell is quoted, and rows end with CRLF (RFC 4180).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date
from typing import IO

TEXT_PREFIX = "'"
FORMULA_START = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
_TO_SPACE = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x85\u2028\u2029")
_SKIPPABLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def _is_noncharacter(ch: str) -> bool:
    code = ord(ch)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _clean_char(ch: str) -> str:
    if ch in _TO_SPACE:
        return " "
    if unicodedata.category(ch) in ("Cc", "Cs") or _is_noncharacter(ch):
        return "\ufffd"
    return ch


def _needs_prefix(first: str) -> bool:
    return first in FORMULA_START or first.isspace() or unicodedata.category(first) in _SKIPPABLE_CATEGORIES


def safe_cell(value: object) -> str:
    """The text a cell holds: dates as YYYY-MM-DD, None as empty, neutralised as the module says."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, date) else str(value)
    if text.isprintable() and text.isascii():
        clean = text
    else:
        clean = "".join(map(_clean_char, text))
    if clean and _needs_prefix(clean[0]):
        return TEXT_PREFIX + clean
    return clean


def csv_writer(stream: IO[str]) -> Callable[[Iterable[object]], None]:
    """A function writing one row of safe cells to `stream` (every cell quoted, CRLF line ends)."""
    writer = csv.writer(stream, quoting=csv.QUOTE_ALL, lineterminator="\r\n")

    def write(cells: Iterable[object]) -> None:
        writer.writerow([safe_cell(c) for c in cells])

    return write


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """A whole CSV file of safe cells."""
    out = io.StringIO()
    write = csv_writer(out)
    for row in rows:
        write(row)
    return out.getvalue()
