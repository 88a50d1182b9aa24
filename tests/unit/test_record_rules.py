"""Record rules: each refusal is named by one rule of the table, and docs/rules.md is that table."""

from __future__ import annotations

import codecs
from datetime import date
from pathlib import Path

import pytest

from lrs_ws.domain import errors as e
from lrs_ws.service import record_rules, records
from lrs_ws.service.batch_codec import decode_values
from lrs_ws.service.records import FIELD_NAMES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
TODAY = date(2026, 6, 1)
VALID = {
    "AchievementAwardDate": "2025-07-01",
    "Action": 1,
    "ActionDate": "2025-07-02",
    "FamilyName": "Khan",
    "GivenName": "Amira",
    "Grade": "Pass",
    "LanguageForAssessment": "English",
    "ProviderUkprn": "10000001",
    "Uln": "1234567899",
    "UnitOrQualificationReferenceNumber": "J/602/3521",
}
# The field rules whose example is a literal value (control characters written as \x escapes).
FIELD_RULES = [
    r
    for r in record_rules.RULES
    if r.kind is not None
    and issubclass(r.kind, e.InvalidValue | e.InvalidUln)
    and r.field in FIELD_NAMES
    and not r.example.startswith("(")
]


def refusal(changes: dict[str, object]) -> e.DomainError:
    record = {**VALID, **changes}
    with pytest.raises(e.DomainError) as refused:
        records.clean(decode_values([record.get(name) for name in FIELD_NAMES]), TODAY)
    return refused.value


@pytest.mark.parametrize("rule", FIELD_RULES, ids=lambda r: r.rule_id)
def test_each_field_rules_example_is_refused_with_that_rule(rule):
    error = refusal({rule.field: codecs.decode(rule.example, "unicode_escape")})
    assert record_rules.rule_of(error) is rule
    assert record_rules.field_of(rule, error) == rule.field


@pytest.mark.parametrize(
    ("changes", "rule_id"),
    [
        ({"GivenName": None}, "GIVEN_NAME_REQUIRED"),
        ({"AchievementAwardDate": None}, "AWARD_DATE_REQUIRED"),
        ({"MisIdentifier": "M" * 51}, "MIS_IDENTIFIER_TOO_LONG"),
        ({"LanguageForAssessment": "E" * 51}, "LANGUAGE_TOO_LONG"),
        ({"ActionReason": "R" * 201}, "ACTION_REASON_TOO_LONG"),
        ({"Gender": "seven"}, "GENDER_INVALID"),
        ({"Action": "two"}, "ACTION_INVALID"),
    ],
)
def test_refusals_without_a_literal_example_are_named_too(changes, rule_id):
    assert record_rules.rule_of(refusal(changes)).rule_id == rule_id


def test_record_level_refusals_of_the_register_and_the_organisations_achievements_have_their_rules():
    named = {
        "LEARNER_NOT_FOUND": e.LearnerNotFound("1000000004"),
        "LEARNER_NAME_MISMATCH": e.LearnerMismatch(),
        "DUPLICATE_ACHIEVEMENT": e.DuplicateAchievement(),
        "TARGET_AMBIGUOUS": e.AmbiguousTarget(2),
        "TARGET_NOT_FOUND": e.NotFound("achievement matching ULN and reference", "x"),
        "TARGET_WITHDRAWN": e.InvalidTransition("achievement", "withdrawn", "updated"),
        "ALREADY_WITHDRAWN": e.InvalidTransition("achievement", "already withdrawn", "withdrawn"),
        "NOT_WITHDRAWN": e.InvalidTransition("achievement", "not withdrawn", "reinstated"),
    }
    assert {rule_id: record_rules.rule_of(error).rule_id for rule_id, error in named.items()} == {
        rule_id: rule_id for rule_id in named
    }


def test_a_refusal_without_a_row_of_its_own_gets_a_catch_all_rule_and_keeps_its_field():
    error = e.InvalidValue("OrganisationRef", "OrganisationRef must be 6 letters or digits.")
    rule = record_rules.rule_of(error)
    assert (rule.rule_id, record_rules.field_of(rule, error)) == ("FIELD_INVALID", "OrganisationRef")
    assert record_rules.rule_of(None).rule_id == "RECORD_INTERNAL_ERROR"
    assert record_rules.rule_of(e.StaleVersion(1, 2)).rule_id == "RECORD_INTERNAL_ERROR"


def test_rule_identifiers_are_unique_and_carry_the_code_and_category_of_their_error():
    ids = [r.rule_id for r in record_rules.RULES]
    assert len(ids) == len(set(ids))
    by_id = {r.rule_id: r for r in record_rules.RULES}
    assert (by_id["ULN_CHECK_DIGIT"].code, by_id["ULN_CHECK_DIGIT"].category) == (
        "WSEC0136",
        "FieldDataError",
    )
    assert (by_id["LEARNER_NAME_MISMATCH"].code, by_id["LEARNER_NAME_MISMATCH"].category) == (
        "WSEC0111",
        "LearnerDataError",
    )
    assert (by_id["AWARD_DATE_FUTURE"].code, by_id["AWARD_DATE_FUTURE"].category) == (
        "WSEC0102",
        "BusinessRuleError",
    )


def test_the_committed_rule_catalogue_is_the_one_the_code_generates():
    assert DOCS.read_text(encoding="utf-8") == record_rules.catalogue_markdown(), (
        "docs/rules.md is out of date: run `lrs-ws rules --markdown > docs/rules.md`"
    )


def test_a_row_without_a_field_names_its_kind_of_problem_in_any_field():
    rule = record_rules.Rule("ANY_TOO_LONG", e.InvalidValue, "", "Too long.", "", e.PROBLEM_TOO_LONG)
    error = e.InvalidValue("ActionReason", "too long", e.PROBLEM_TOO_LONG)
    assert rule.matches(error) and record_rules.field_of(rule, error) == "ActionReason"
    assert not rule.matches(e.InvalidValue("ActionReason", "bad", e.PROBLEM_FORMAT))
