"""The record rules of an LRS `Achievement` record, each with a stable identifier: the one table.

A refused record (batch job, dry-run validation, single-record operation) is named by the first row below its
DomainError matches: the error's type, and for a field error the field and the kind of problem, for a state
change the state the achievement was in. The error code and category come from domain/error_codes.py.
`docs/rules.md` is generated from this table (`lrs-ws rules --markdown`), and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lrs_ws.domain import errors as e
from lrs_ws.domain.error_codes import INTERNAL_RECORD_MESSAGE, record_error


@dataclass(frozen=True)
class Rule:
    """One record rule. `field` names the Achievement field(s) concerned, comma-separated when several."""

    rule_id: str
    kind: type[e.DomainError] | None
    field: str
    meaning: str
    example: str
    problem: str | None = None
    state: str | None = None

    def matches(self, error: e.DomainError) -> bool:
        if self.kind is None or not isinstance(error, self.kind):
            return False
        if isinstance(error, e.InvalidValue) and self.problem is not None:
            # A row without a field names that kind of problem in any field.
            return error.problem == self.problem and (not self.field or error.field == self.field)
        if self.state is not None:
            return getattr(error, "current", None) == self.state
        return True

    @property
    def code(self) -> str:
        return record_error(self.kind)[0]

    @property
    def category(self) -> str:
        return record_error(self.kind)[1]


_F, _REQ, _LONG, _CTRL, _FUT = (
    e.PROBLEM_FORMAT,
    e.PROBLEM_REQUIRED,
    e.PROBLEM_TOO_LONG,
    e.PROBLEM_CONTROL,
    e.PROBLEM_FUTURE,
)
_IV = e.InvalidValue

RULES: tuple[Rule, ...] = (
    # -- field rules: the record's own values, in the order they are checked ---------------------------
    Rule(
        "RECORD_UNREADABLE",
        _IV,
        "record",
        "The stored record could not be read back.",
        "(not valid JSON)",
        _F,
    ),
    Rule(
        "ACTION_INVALID",
        _IV,
        "Action",
        "Action is not 1 (Create), 2 (Update), 3 (Withdraw) or 4 (Reinstate).",
        "5",
        _F,
    ),
    Rule(
        "ULN_CHECK_DIGIT",
        e.InvalidUln,
        "Uln",
        "The ULN is not 10 digits starting 1-9 with a correct check digit.",
        "1234567890",
    ),
    Rule(
        "REFERENCE_FORMAT",
        _IV,
        "UnitOrQualificationReferenceNumber",
        "The reference is not a unit (J/602/3521), qualification (600/1166/X) or 8-character aim reference.",
        "J/6023/521",
        _F,
    ),
    Rule("AWARD_DATE_REQUIRED", _IV, "AchievementAwardDate", "The award date is missing.", "(empty)", _REQ),
    Rule(
        "AWARD_DATE_FORMAT",
        _IV,
        "AchievementAwardDate",
        "The award date is not a date (yyyy-mm-dd, or dd/mm/yyyy in a file).",
        "31/02/2023",
        _F,
    ),
    Rule(
        "ACTION_DATE_FORMAT",
        _IV,
        "ActionDate",
        "The action date is not a date (yyyy-mm-dd, or dd/mm/yyyy in a file).",
        "next week",
        _F,
    ),
    Rule(
        "DATE_OF_BIRTH_FORMAT",
        _IV,
        "DateofBirth",
        "The date of birth is not a date (yyyy-mm-dd, or dd/mm/yyyy in a file).",
        "2001-13-01",
        _F,
    ),
    Rule("GIVEN_NAME_REQUIRED", _IV, "GivenName", "The learner's given name is missing.", "(empty)", _REQ),
    Rule(
        "GIVEN_NAME_TOO_LONG",
        _IV,
        "GivenName",
        "The given name is longer than 35 characters.",
        "Bartholomew-Maximilian-Alexander-Jnr",
        _LONG,
    ),
    Rule(
        "GIVEN_NAME_CONTROL_CHARACTERS",
        _IV,
        "GivenName",
        "The given name holds a control character or a noncharacter (U+FFFF, ...).",
        "Ann\\x07",
        _CTRL,
    ),
    Rule("FAMILY_NAME_REQUIRED", _IV, "FamilyName", "The learner's family name is missing.", "(empty)", _REQ),
    Rule(
        "FAMILY_NAME_TOO_LONG",
        _IV,
        "FamilyName",
        "The family name is longer than 35 characters.",
        "Montgomery-Fotheringham-Wolstenholme",
        _LONG,
    ),
    Rule(
        "FAMILY_NAME_CONTROL_CHARACTERS",
        _IV,
        "FamilyName",
        "The family name holds a control character or a noncharacter (U+FFFF, ...).",
        "Smith\\x1b",
        _CTRL,
    ),
    Rule(
        "GRADE_TOO_LONG",
        e.GradeTooLong,
        "Grade",
        "The grade is longer than 20 characters.",
        "Distinction with honours",
        _LONG,
    ),
    Rule(
        "GRADE_CONTROL_CHARACTERS",
        _IV,
        "Grade",
        "The grade holds a control character or a noncharacter (U+FFFF, ...).",
        "Pass\\x00",
        _CTRL,
    ),
    Rule(
        "LANGUAGE_TOO_LONG",
        _IV,
        "LanguageForAssessment",
        "The language for assessment is longer than 50 characters.",
        "(51 characters)",
        _LONG,
    ),
    Rule(
        "LANGUAGE_CONTROL_CHARACTERS",
        _IV,
        "LanguageForAssessment",
        "The language for assessment holds a control character or a noncharacter (U+FFFF, ...).",
        "Eng\\x07lish",
        _CTRL,
    ),
    Rule(
        "PROVIDER_UKPRN_FORMAT",
        _IV,
        "ProviderUkprn",
        "The provider UKPRN is not 8 digits between 10000000 and 99999999.",
        "0999999",
        _F,
    ),
    Rule(
        "MIS_IDENTIFIER_TOO_LONG",
        _IV,
        "MisIdentifier",
        "The MisIdentifier is longer than 50 characters.",
        "(51 characters)",
        _LONG,
    ),
    Rule(
        "MIS_IDENTIFIER_CONTROL_CHARACTERS",
        _IV,
        "MisIdentifier",
        "The MisIdentifier holds a control character or a noncharacter (U+FFFF, ...).",
        "C\\x1b1",
        _CTRL,
    ),
    Rule(
        "ACTION_REASON_TOO_LONG",
        _IV,
        "ActionReason",
        "The action reason is longer than 200 characters.",
        "(201 characters)",
        _LONG,
    ),
    Rule(
        "ACTION_REASON_CONTROL_CHARACTERS",
        _IV,
        "ActionReason",
        "The action reason holds a control character or a noncharacter (U+FFFF, ...).",
        "Error\\x08",
        _CTRL,
    ),
    Rule(
        "GENDER_INVALID",
        _IV,
        "Gender",
        "Gender is not 0 (unknown), 1 (male), 2 (female) or 9 (not specified).",
        "3",
        _F,
    ),
    Rule(
        "POSTCODE_TOO_LONG",
        _IV,
        "LearnerPostcode",
        "The postcode is longer than 10 characters.",
        "SW1A 1AA LONDON",
        _LONG,
    ),
    Rule(
        "POSTCODE_CONTROL_CHARACTERS",
        _IV,
        "LearnerPostcode",
        "The postcode holds a control character or a noncharacter (U+FFFF, ...).",
        "SW1A\\x001AA",
        _CTRL,
    ),
    Rule(
        "DATE_OF_BIRTH_FUTURE",
        e.FutureDate,
        "DateofBirth",
        "The date of birth is after today.",
        "2099-01-01",
        _FUT,
    ),
    Rule(
        "AWARD_DATE_FUTURE",
        e.FutureDate,
        "AchievementAwardDate",
        "The award date is after today.",
        "2099-07-01",
        _FUT,
    ),
    # -- learner rules: the register -------------------------------------------------------------------
    Rule(
        "LEARNER_NOT_FOUND",
        e.LearnerNotFound,
        "Uln",
        "No learner with this ULN is on the register.",
        "1000000004",
    ),
    Rule(
        "LEARNER_NAME_MISMATCH",
        e.LearnerMismatch,
        "GivenName,FamilyName",
        "The given and family names do not match the register's for this ULN (case and spaces ignored).",
        "Amirah Khan",
    ),
    # -- business rules: the organisation's achievements ----------------------------------------------
    Rule(
        "DUPLICATE_ACHIEVEMENT",
        e.DuplicateAchievement,
        "UnitOrQualificationReferenceNumber",
        "Create: the learner already has this achievement from your organisation (same reference and "
        "MisIdentifier, or same award date without one).",
        "J/602/3521",
    ),
    Rule(
        "TARGET_AMBIGUOUS",
        e.AmbiguousTarget,
        "MisIdentifier",
        "Update, Withdraw or Reinstate: several of your achievements match the ULN and reference; a "
        "MisIdentifier chooses one.",
        "(empty)",
    ),
    Rule(
        "TARGET_NOT_FOUND",
        e.NotFound,
        "UnitOrQualificationReferenceNumber",
        "Update, Withdraw or Reinstate: none of your organisation's achievements matches the ULN, reference "
        "(and MisIdentifier). Another organisation's achievement is not found either.",
        "J/602/3521",
    ),
    Rule(
        "TARGET_WITHDRAWN",
        e.InvalidTransition,
        "Action",
        "Update of a withdrawn achievement: reinstate it first.",
        "2",
        state="withdrawn",
    ),
    Rule(
        "ALREADY_WITHDRAWN",
        e.InvalidTransition,
        "Action",
        "Withdraw of an achievement already withdrawn.",
        "3",
        state="already withdrawn",
    ),
    Rule(
        "NOT_WITHDRAWN",
        e.InvalidTransition,
        "Action",
        "Reinstate of an achievement that is not withdrawn.",
        "4",
        state="not withdrawn",
    ),
    # -- the catch-alls: a rule without a row of its own still gets an identifier ----------------------
    Rule("FIELD_INVALID", _IV, "", "A field's value breaks a format rule without a row of its own.", ""),
    Rule("RECORD_INTERNAL_ERROR", None, "", INTERNAL_RECORD_MESSAGE, ""),
)

_INTERNAL = RULES[-1]


def rule_of(error: e.DomainError | None) -> Rule:
    """The rule a record's refusal broke (the internal-error rule for None or anything unknown)."""
    if error is not None:
        for rule in RULES:
            if rule.matches(error):
                return rule
    return _INTERNAL


def field_of(rule: Rule, error: e.DomainError | None) -> str:
    """The field a refusal concerns: the rule's, or for the catch-all the error's own."""
    if rule.field or not isinstance(error, e.InvalidValue):
        return rule.field
    return error.field


def offending_value(field: str, record: Mapping[str, Any]) -> str:
    """The record's value(s) of the field(s) concerned, as submitted (several joined by a space)."""
    parts = [record.get(name) for name in field.split(",") if name]
    return " ".join(str(p) for p in parts if p is not None and p != "")


# -- the catalogue ------------------------------------------------------------------------------------------

CATALOGUE_HEADER = ("RuleId", "Category", "ErrorCode", "Field", "Meaning", "Example")


def catalogue() -> Iterator[tuple[str, str, str, str, str, str]]:
    for rule in RULES:
        yield (
            rule.rule_id,
            rule.category,
            rule.code,
            rule.field or "(the error's)",
            rule.meaning,
            rule.example,
        )


def catalogue_markdown() -> str:
    """docs/rules.md."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "# Record rules",
        "",
        "Every refused record of a batch job and of a dry-run validation (ValidateAchievementBatch, "
        "`lrs-ws batch validate`) is named by one of these rules; the single-record operations "
        "(CreateAchievement, WithdrawAchievement, ...) apply the same rules and answer with the same error "
        "codes. The error file gives the rule in its `RuleId` column, the field in `Field` and the value "
        "as submitted in `Value` (after the six columns it always had). Rules are checked in this order; "
        "a record is refused by the first it breaks.",
        "",
        "This file is generated by `lrs-ws rules --markdown`; a test keeps it equal to the code.",
        "",
        "| " + " | ".join(CATALOGUE_HEADER) + " |",
        "|" + "---|" * len(CATALOGUE_HEADER),
    ]
    for row in catalogue():
        rule_id, category, code, field, meaning, example = row
        lines.append(
            f"| `{rule_id}` | {category} | {code} | {cell(field)} | {cell(meaning)} | "
            + (f"`{cell(example)}`" if example else "")
            + " |"
        )
    return "\n".join(lines) + "\n"
