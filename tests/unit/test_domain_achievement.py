"""Achievement rules: grade edits, withdraw/reinstate, transfer, delete, versions."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from lrs_ws.domain import model
from lrs_ws.domain.errors import InvalidTransition, LearnerNotFound, SameUlnTransfer, StaleVersion
from lrs_ws.domain.model import Achievement, Learner

NOW = datetime(2024, 5, 1, 12, 0)
JAMES = Learner(uln="8659377485", given_name="James", family_name="Pickles")


def achievement(**changes: object) -> Achievement:
    fields: dict[str, object] = dict(
        organisation_id=1,
        uln="3415521949",
        reference="J/602/3521",
        title="Adapt and fit",
        aim_type="Unit",
        level="Level 3",
        grade="",
        award_date=date(2010, 1, 1),
        created_at=datetime(2020, 1, 1),
    )
    fields.update(changes)
    a = Achievement(**fields)  # type: ignore[arg-type]
    a.id = 7
    a.version = 1
    return a


def test_editing_the_grade_replaces_it_and_stamps_the_change() -> None:
    a = achievement(grade="Pass")
    a.edit_grade("Merit", NOW)
    assert a.grade == "Merit" and a.updated_at == NOW


def test_a_grade_can_be_added_where_there_was_none() -> None:
    a = achievement()
    a.edit_grade("Distinction", NOW)
    assert a.grade == "Distinction"


def test_withdrawing_marks_it_withdrawn_with_the_reason() -> None:
    a = achievement()
    a.withdraw("entered in error", NOW)
    assert a.withdrawn and a.withdrawn_reason == "entered in error"


def test_withdrawing_twice_is_refused() -> None:
    a = achievement()
    a.withdraw("first", NOW)
    with pytest.raises(InvalidTransition) as caught:
        a.withdraw("second", NOW)
    assert caught.value.attempted == "withdrawn"
    assert a.withdrawn_reason == "first"


def test_reinstating_a_withdrawn_achievement_makes_it_active_again() -> None:
    a = achievement()
    a.withdraw("error", NOW)
    a.reinstate(NOW)
    assert not a.withdrawn and a.withdrawn_reason == ""


def test_reinstating_an_active_achievement_is_refused() -> None:
    a = achievement()
    with pytest.raises(InvalidTransition) as caught:
        a.reinstate(NOW)
    assert caught.value.current == "not withdrawn"
    assert not a.withdrawn


def test_transferring_moves_the_achievement_to_the_new_uln() -> None:
    a = achievement()
    a.transfer_to("8659377485", JAMES, NOW)
    assert a.uln == "8659377485"


def test_transferring_to_the_same_uln_is_refused() -> None:
    a = achievement()
    with pytest.raises(SameUlnTransfer):
        a.transfer_to("3415521949", Learner(uln="3415521949", given_name="Test", family_name="Learner"), NOW)
    assert a.uln == "3415521949" and a.updated_at == datetime(2020, 1, 1)


def test_transferring_to_a_uln_not_on_the_register_is_refused() -> None:
    a = achievement()
    with pytest.raises(LearnerNotFound):
        a.transfer_to("8659377485", None, NOW)
    assert a.uln == "3415521949" and a.updated_at == datetime(2020, 1, 1)


def test_deleting_marks_it_deleted() -> None:
    a = achievement()
    a.delete(NOW)
    assert a.deleted


@pytest.mark.parametrize(
    "operation",
    [
        lambda a: a.edit_grade("Pass", NOW),
        lambda a: a.withdraw("r", NOW),
        lambda a: a.reinstate(NOW),
        lambda a: a.transfer_to("8659377485", JAMES, NOW),
        lambda a: a.delete(NOW),
        lambda a: a.update_details(
            grade="P", award_date=date(2010, 1, 1), language="", provider_ukprn="", now=NOW
        ),
    ],
    ids=["edit_grade", "withdraw", "reinstate", "transfer", "delete", "update"],
)
def test_every_change_to_a_deleted_achievement_is_refused(operation) -> None:  # type: ignore[no-untyped-def]
    a = achievement()
    a.delete(NOW)
    before = a.snapshot()
    with pytest.raises(InvalidTransition) as caught:
        operation(a)
    assert caught.value.current == "deleted"
    assert a.snapshot() == before


def test_updating_a_withdrawn_achievement_is_refused() -> None:
    a = achievement()
    a.withdraw("r", NOW)
    with pytest.raises(InvalidTransition):
        a.update_details(grade="P", award_date=date(2010, 1, 1), language="", provider_ukprn="", now=NOW)


def test_a_provisional_achievement_is_promoted_to_final_once() -> None:
    a = achievement(status=model.PROVISIONAL)
    assert a.promote_to_final(NOW) is True
    assert a.status == model.FINAL
    assert a.promote_to_final(NOW) is False


def test_a_stale_expected_version_is_refused_and_a_current_or_absent_one_accepted() -> None:
    a = achievement()
    a.check_version(None)
    a.check_version(1)
    with pytest.raises(StaleVersion) as caught:
        a.check_version(0)
    assert (caught.value.expected, caught.value.actual) == (0, 1)


def test_the_snapshot_shows_what_an_audit_event_records() -> None:
    snap = achievement(grade="Pass").snapshot()
    assert snap["Grade"] == "Pass" and snap["AwardDate"] == "2010-01-01" and snap["Uln"] == "3415521949"
    assert snap["Withdrawn"] is False and snap["Deleted"] is False


def test_learner_names_match_ignoring_case_and_surrounding_spaces() -> None:
    learner = Learner(uln="8659377485", given_name="James", family_name="Pickles")
    assert learner.names_match(" james ", "PICKLES")
    assert not learner.names_match("Jim", "Pickles")
