"""The Event Data Challenge lifecycle: New -> InProgress -> Complete, decisions, closing, due dates."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from lrs_ws.domain import model
from lrs_ws.domain.errors import ActionNotVerified, InvalidTransition
from lrs_ws.domain.model import EventDataChallenge, format_edc_reference, parse_edc_reference

RAISED = datetime(2024, 3, 1, 9, 30)


def new_edc(**changes: object) -> EventDataChallenge:
    fields: dict[str, object] = dict(
        organisation_id=1,
        achievement_id=10,
        uln="3415521949",
        given_name="Test",
        family_name="Learner",
        problem_type="GradeIncorrect",
        description="The grade should be Merit",
        recommended_action="EditGrade",
        supplied_value="Merit",
        raised_at=RAISED,
        raised_by="lrs.support",
    )
    fields.update(changes)
    edc = EventDataChallenge(**fields)  # type: ignore[arg-type]
    edc.id = 123
    edc.version = 1
    return edc


# -- processing ----------------------------------------------------------------------------------------------


def test_a_new_edc_starts_new_with_no_decision() -> None:
    edc = new_edc()
    assert edc.status == model.EDC_NEW and edc.decision is None and edc.is_open


def test_processing_a_new_edc_makes_it_in_progress() -> None:
    edc = new_edc()
    assert edc.process() is True
    assert edc.status == model.EDC_IN_PROGRESS


def test_processing_an_edc_already_in_progress_changes_nothing() -> None:
    edc = new_edc()
    edc.process()
    assert edc.process() is False
    assert edc.status == model.EDC_IN_PROGRESS


def test_processing_a_complete_edc_leaves_it_complete() -> None:
    edc = new_edc()
    edc.decide(model.REJECTED, "not a problem", RAISED)
    edc.close(RAISED)
    assert edc.process() is False
    assert edc.status == model.EDC_COMPLETE


# -- decisions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("decision", model.DECISIONS)
def test_a_decision_can_be_recorded_on_a_new_edc(decision: str) -> None:
    edc = new_edc()
    edc.decide(decision, "checked with the centre", RAISED + timedelta(days=2))
    assert edc.decision == decision
    assert edc.decision_reason == "checked with the centre"
    assert edc.decided_at == RAISED + timedelta(days=2)
    assert edc.status == model.EDC_IN_PROGRESS


@pytest.mark.parametrize("decision", model.DECISIONS)
def test_a_decision_can_be_recorded_on_an_edc_in_progress(decision: str) -> None:
    edc = new_edc()
    edc.process()
    edc.decide(decision, "reason", RAISED)
    assert edc.decision == decision and edc.status == model.EDC_IN_PROGRESS


def test_a_second_decision_is_refused_and_the_first_stands() -> None:
    edc = new_edc()
    edc.decide(model.ACCEPTED, "first", RAISED)
    with pytest.raises(InvalidTransition) as caught:
        edc.decide(model.REJECTED, "second", RAISED)
    assert caught.value.what == "EDC"
    assert edc.decision == model.ACCEPTED and edc.decision_reason == "first"


def test_deciding_a_complete_edc_is_refused() -> None:
    edc = new_edc()
    edc.decide(model.REJECTED, "no", RAISED)
    edc.close(RAISED)
    with pytest.raises(InvalidTransition):
        edc.decide(model.ACCEPTED, "yes", RAISED)
    assert edc.decision == model.REJECTED


def test_an_unknown_decision_is_refused_and_nothing_changes() -> None:
    edc = new_edc()
    with pytest.raises(InvalidTransition):
        edc.decide("Maybe", "unsure", RAISED)
    assert edc.decision is None and edc.status == model.EDC_NEW


# -- closing -------------------------------------------------------------------------------------------------


def test_a_rejected_edc_closes_at_once() -> None:
    edc = new_edc()
    edc.decide(model.REJECTED, "the grade is right", RAISED)
    edc.close(RAISED + timedelta(days=3))
    assert edc.status == model.EDC_COMPLETE
    assert edc.resolved_at == RAISED + timedelta(days=3)
    assert not edc.is_open


def test_an_accepted_edc_is_not_closed_before_its_action_is_verified() -> None:
    edc = new_edc()
    edc.decide(model.ACCEPTED, "agreed", RAISED)
    with pytest.raises(ActionNotVerified) as caught:
        edc.close(RAISED)
    assert "EditGrade" in caught.value.message and "Merit" in caught.value.message
    assert edc.status == model.EDC_IN_PROGRESS and edc.resolved_at is None


def test_an_accepted_edc_closes_once_its_action_is_verified() -> None:
    edc = new_edc()
    edc.decide(model.ACCEPTED, "agreed", RAISED)
    edc.action_verified = True
    edc.close(RAISED)
    assert edc.status == model.EDC_COMPLETE


@pytest.mark.parametrize("process_first", [False, True])
def test_an_edc_without_a_decision_cannot_be_closed(process_first: bool) -> None:
    edc = new_edc()
    if process_first:
        edc.process()
    with pytest.raises(InvalidTransition):
        edc.close(RAISED)
    assert edc.is_open


def test_closing_a_complete_edc_again_is_refused() -> None:
    edc = new_edc()
    edc.decide(model.REJECTED, "no", RAISED)
    edc.close(RAISED)
    with pytest.raises(InvalidTransition):
        edc.close(RAISED + timedelta(days=1))
    assert edc.resolved_at == RAISED


# -- due dates, days open, overdue ---------------------------------------------------------------------


def test_the_due_date_is_five_weeks_after_the_edc_was_raised() -> None:
    assert new_edc().due_date == date(2024, 4, 5)


def test_days_open_counts_to_today_while_open() -> None:
    edc = new_edc()
    assert edc.days_open(date(2024, 3, 1)) == 0
    assert edc.days_open(date(2024, 3, 11)) == 10


def test_days_open_stops_counting_when_the_edc_is_resolved() -> None:
    edc = new_edc()
    edc.decide(model.REJECTED, "no", RAISED)
    edc.close(datetime(2024, 3, 8, 17, 0))
    assert edc.days_open(date(2024, 6, 1)) == 7


def test_an_open_edc_is_overdue_only_after_its_due_date() -> None:
    edc = new_edc()
    assert not edc.overdue(date(2024, 4, 5))
    assert edc.overdue(date(2024, 4, 6))


def test_a_complete_edc_is_never_overdue() -> None:
    edc = new_edc()
    edc.decide(model.REJECTED, "no", RAISED)
    edc.close(RAISED)
    assert not edc.overdue(date(2025, 1, 1))


# -- references ----------------------------------------------------------------------------------------------


def test_an_edc_reference_is_edc_and_seven_digits() -> None:
    assert new_edc().reference == "EDC0000123"
    assert format_edc_reference(5) == "EDC0000005"


@pytest.mark.parametrize("text", ["EDC0000123", "edc0000123", " EDC0000123 "])
def test_an_edc_reference_is_read_back_as_its_id(text: str) -> None:
    assert parse_edc_reference(text) == 123


@pytest.mark.parametrize("text", [None, "", "EDC123", "EDC00001234", "XYZ0000123", "EDC00001A3", "123"])
def test_anything_else_is_not_an_edc_reference(text: str | None) -> None:
    assert parse_edc_reference(text) is None
