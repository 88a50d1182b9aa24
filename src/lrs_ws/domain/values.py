"""Value rules: ULN check digit, grades, references, names, paging."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import date

from lrs_ws.domain.errors import (
    PROBLEM_CONTROL,
    PROBLEM_REQUIRED,
    PROBLEM_TOO_LONG,
    GradeTooLong,
    InvalidUln,
    InvalidValue,
)

MAX_GRADE_LENGTH = 20
MAX_NAME_LENGTH = 35

_ULN_RE = re.compile(r"^[1-9][0-9]{9}$")
_ORG_REF_RE = re.compile(r"^[A-Za-z0-9]{6}$")
_UKPRN_RE = re.compile(r"^[1-9][0-9]{7}$")
_UNIT_RE = re.compile(r"^[A-Z]/[0-9]{3}/[0-9]{4}$")
_QUAL_RE = re.compile(r"^[0-9]{3}/[0-9]{4}/[0-9A-Z]$")
_AIM_RE = re.compile(r"^[0-9A-Z]{8}$")
# One plain address (RFC 5322 dot-atom local part, DNS host name): no display name, no list, no comment, no
# quoting, nothing a mail header could split into several recipients or extra header lines.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_RE = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
EMAIL_MAX = 254
# Characters no stored text may hold, because every answer that carries it would fail: those XML 1.0 cannot
# carry at all (C0 controls but tab, LF and CR; lone surrogates; U+FFFE, U+FFFF), and those it allows but
# discourages, which no name, grade or reference needs and which some readers take as line breaks or drop:
# DEL and the C1 controls (U+007F-U+009F, NEL U+0085 among them) and the other noncharacters (U+FDD0-U+FDEF,
# the last two code points of every plane).
_UNSTORABLE_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)

GENDERS = {0, 1, 2, 9}
_ULN_WEIGHTS = range(10, 1, -1)


def uln_is_valid(value: str | None) -> bool:
    """DfE ULN rule: 10 digits, first 1-9; digits 1-9 weighted 10..2; remainder 0 is invalid,
    otherwise the 10th digit is 10 - (sum mod 11)."""
    if value is None or not _ULN_RE.match(value):
        return False
    total: int = sum(map(operator.mul, map(int, value[:9]), _ULN_WEIGHTS))
    remainder = total % 11
    if remainder == 0:
        return False
    return int(value[9]) == 10 - remainder


def check_uln(value: str | None) -> str:
    """The ULN, stripped, or InvalidUln."""
    text = (value or "").strip()
    if not uln_is_valid(text):
        raise InvalidUln(text)
    return text


def check_grade(value: str | None) -> str:
    """A grade is free text of at most 20 characters; empty means no grade."""
    text = check_characters("Grade", value).strip()
    if len(text) > MAX_GRADE_LENGTH:
        raise GradeTooLong(len(text), MAX_GRADE_LENGTH)
    return text


def check_characters(field: str, value: str | None) -> str:
    """The value as given, or InvalidValue naming the first character no stored text may hold (by code
    point and position, never echoing the value)."""
    text = value or ""
    found = _UNSTORABLE_RE.search(text)
    if found is not None:
        raise InvalidValue(
            field,
            f"{field} contains a character that cannot be stored (U+{ord(found.group()):04X} at position "
            f"{found.start() + 1}): control characters, U+FFFE, U+FFFF and other noncharacters are refused.",
            PROBLEM_CONTROL,
        )
    return text


def check_text(field: str, value: str | None, max_length: int, *, required: bool = False) -> str:
    """Free text, stripped: at most `max_length` characters, none that cannot be stored."""
    text = check_characters(field, value).strip()
    if required and not text:
        raise InvalidValue(field, f"{field} is required.", PROBLEM_REQUIRED)
    if len(text) > max_length:
        raise InvalidValue(field, f"{field} is longer than {max_length} characters.", PROBLEM_TOO_LONG)
    return text


def check_name(field: str, value: str | None) -> str:
    return check_text(field, value, MAX_NAME_LENGTH, required=True)


def check_org_ref(value: str | None) -> str:
    text = (value or "").strip().upper()
    if not _ORG_REF_RE.match(text):
        raise InvalidValue("OrganisationRef", "OrganisationRef must be 6 letters or digits.")
    return text


def check_ukprn(value: str | None, field: str = "ProviderUkprn") -> str:
    text = (value or "").strip()
    if not _UKPRN_RE.match(text):
        raise InvalidValue(field, f"{field} must be 8 digits between 10000000 and 99999999.")
    return text


def check_email(value: str | None) -> str:
    """Exactly one plain address such as mi@example.org (surrounding blanks ignored), or InvalidValue."""
    text = (value or "").strip(" ")
    local = text.rpartition("@")[0]
    if len(text) > EMAIL_MAX or len(local) > 64 or not _EMAIL_RE.fullmatch(text):
        raise InvalidValue(
            "EmailAddress",
            "The e-mail address must be exactly one plain address such as mi@example.org: no list (',' or "
            "';'), display name, quotes, spaces or line breaks.",
        )
    return text


def aim_type_of(reference: str) -> str | None:
    """'Unit' or 'Qualification' from the reference's format, or None when it has neither format."""
    if _UNIT_RE.match(reference):
        return "Unit"
    if _QUAL_RE.match(reference) or _AIM_RE.match(reference):
        return "Qualification"
    return None


def check_reference(value: str | None) -> str:
    text = (value or "").strip().upper()
    if aim_type_of(text) is None:
        raise InvalidValue(
            "UnitOrQualificationReferenceNumber",
            "The unit or qualification reference must look like J/602/3521, 600/1166/X or an 8-character "
            "learning aim reference.",
        )
    return text


def check_gender(value: int | None) -> int:
    if value is None:
        return 0
    if value not in GENDERS:
        raise InvalidValue("Gender", "Gender must be 0 (unknown), 1 (male), 2 (female) or 9 (not specified).")
    return value


def check_not_future(field: str, value: date, today: date) -> date:
    from lrs_ws.domain.errors import FutureDate

    if value > today:
        raise FutureDate(field)
    return value


@dataclass(frozen=True)
class Page:
    """A 1-based page request, clamped to the service's limits."""

    number: int
    size: int

    @classmethod
    def of(cls, number: int | None, size: int | None, *, default_size: int, max_size: int) -> Page:
        n = 1 if number is None else number
        s = default_size if size is None else size
        if n < 1:
            raise InvalidValue("pageNumber", "pageNumber starts at 1.")
        if n > 1_000_000:
            raise InvalidValue("pageNumber", "pageNumber is too large.")
        if s < 1 or s > max_size:
            raise InvalidValue("pageSize", f"pageSize must be between 1 and {max_size}.")
        return cls(n, s)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size
