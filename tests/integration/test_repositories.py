"""Repositories scope every lookup of AO-owned data to the organisation; the unit of work rolls back unless
committed. Runs on SQLite and PostgreSQL over the demo data."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import inspect
from support.demo import ORG1, ORG2, TEST_LEARNER

from lrs_ws.app import Wiring
from lrs_ws.domain import model
from lrs_ws.domain.errors import StaleVersion
from lrs_ws.domain.values import Page

PAGE = Page(1, 50)


def _orgs(w: Wiring) -> tuple[int, int]:
    with w.uow_factory() as uow:
        one, two = uow.organisations.by_ref(ORG1), uow.organisations.by_ref(ORG2)
        assert one is not None and two is not None and one.id and two.id
        return one.id, two.id


def _achievement_ids(w: Wiring, org_id: int) -> list[int]:
    with w.uow_factory() as uow:
        _, rows = uow.achievements.for_learner(org_id, TEST_LEARNER, "AwardDate", False, PAGE)
        return [a.id for a in rows if a.id is not None]


def _new_achievement(org_id: int, uln: str = TEST_LEARNER, grade: str = "") -> model.Achievement:
    return model.Achievement(
        organisation_id=org_id,
        uln=uln,
        reference="K/501/5773",
        title="Principles",
        aim_type="Unit",
        level="Level 2",
        grade=grade,
        award_date=date(2015, 6, 1),
        created_at=datetime(2020, 1, 1),
    )


# -- achievements ------------------------------------------------------------------------------------------


def test_an_achievement_is_found_only_with_its_own_organisation(demo_wiring: Wiring) -> None:
    one, two = _orgs(demo_wiring)
    own = _achievement_ids(demo_wiring, one)[0]
    with demo_wiring.uow_factory() as uow:
        assert uow.achievements.get(own, one) is not None
        assert uow.achievements.get(own, two) is None
        assert uow.achievements.get_any(own, two) is None
        assert uow.achievements.get(999_999, one) is None


def test_a_learners_achievements_are_only_those_of_the_asking_organisation(demo_wiring: Wiring) -> None:
    one, two = _orgs(demo_wiring)
    with demo_wiring.uow_factory() as uow:
        total_one, rows_one = uow.achievements.for_learner(one, TEST_LEARNER, "AwardDate", False, PAGE)
        total_two, rows_two = uow.achievements.for_learner(two, TEST_LEARNER, "AwardDate", False, PAGE)
    assert total_one == 3 and {a.organisation_id for a in rows_one} == {one}
    assert total_two == 1 and {a.organisation_id for a in rows_two} == {two}
    assert [a.award_date for a in rows_one] == [date(2010, 1, 1), date(2010, 1, 2), date(2010, 1, 3)]


def test_matching_by_uln_and_reference_is_scoped_to_the_organisation(demo_wiring: Wiring) -> None:
    one, two = _orgs(demo_wiring)
    with demo_wiring.uow_factory() as uow:
        assert len(uow.achievements.matching(one, TEST_LEARNER, "J/602/3521", None)) == 3
        assert len(uow.achievements.matching(one, TEST_LEARNER, "J/602/3521", "DEMO01-02")) == 1
        assert len(uow.achievements.matching(two, TEST_LEARNER, "J/602/3521", "DEMO01-02")) == 0
        assert len(uow.achievements.matching(two, TEST_LEARNER, "J/602/3521", None)) == 1


def test_a_deleted_achievement_is_hidden_from_get_but_kept_for_its_history(demo_wiring: Wiring) -> None:
    one, _ = _orgs(demo_wiring)
    with demo_wiring.uow_factory() as uow:
        a = _new_achievement(one)
        uow.achievements.add(a)
        uow.flush()
        a.delete(datetime(2021, 1, 1))
        uow.commit()
        achievement_id = a.id
    assert achievement_id is not None
    with demo_wiring.uow_factory() as uow:
        assert uow.achievements.get(achievement_id, one) is None
        assert uow.achievements.get_any(achievement_id, one) is not None
        total, _ = uow.achievements.for_learner(one, TEST_LEARNER, "AwardDate", False, PAGE)
    assert total == 3


def test_paging_gives_the_total_and_one_page_of_rows(demo_wiring: Wiring) -> None:
    one, _ = _orgs(demo_wiring)
    with demo_wiring.uow_factory() as uow:
        total, first = uow.achievements.for_learner(one, TEST_LEARNER, "AwardDate", True, Page(1, 2))
        _, second = uow.achievements.for_learner(one, TEST_LEARNER, "AwardDate", True, Page(2, 2))
        _, beyond = uow.achievements.for_learner(one, TEST_LEARNER, "AwardDate", True, Page(3, 2))
    assert total == 3
    assert [a.award_date.day for a in first] == [3, 2]
    assert [a.award_date.day for a in second] == [1]
    assert list(beyond) == []


# -- EDCs ----------------------------------------------------------------------------------------------------


def test_an_edc_is_found_only_with_its_own_organisation(demo_wiring: Wiring) -> None:
    one, two = _orgs(demo_wiring)
    with demo_wiring.uow_factory() as uow:
        total, edcs = uow.edcs.list(one, None, PAGE)
        assert total == 3
        edc_id = edcs[0].id
        assert edc_id is not None
        assert uow.edcs.get(edc_id, one) is not None
        assert uow.edcs.get(edc_id, two) is None
        assert uow.edcs.get(edc_id, None) is not None  # LRS Business Support reads across organisations


def test_edcs_are_listed_per_organisation_and_status_with_a_total(demo_wiring: Wiring) -> None:
    one, two = _orgs(demo_wiring)
    with demo_wiring.uow_factory() as uow:
        for status in model.EDC_STATUSES:
            total, rows = uow.edcs.list(one, status, PAGE)
            assert total == 1 and [r.status for r in rows] == [status]
        assert uow.edcs.list(two, None, PAGE)[0] == 0
        assert uow.edcs.list(None, None, PAGE)[0] == 3


# -- indexes -------------------------------------------------------------------------------------------------


def _index_columns(w: Wiring, table: str) -> list[list[str]]:
    return [list(ix["column_names"]) for ix in inspect(w.engine).get_indexes(table)]


def test_achievements_have_an_index_for_the_lookup_by_organisation_and_uln(wiring: Wiring) -> None:
    assert any(cols[:2] == ["organisation_id", "uln"] for cols in _index_columns(wiring, "achievements"))


def test_edcs_have_an_index_for_the_lookup_by_organisation_and_status(wiring: Wiring) -> None:
    assert ["organisation_id", "status"] in _index_columns(wiring, "event_data_challenges")


def test_audit_events_are_indexed_by_achievement_in_order_and_by_edc(wiring: Wiring) -> None:
    columns = _index_columns(wiring, "audit_events")
    assert ["achievement_id", "id"] in columns and ["edc_id"] in columns


def test_the_edc_lists_are_indexed_newest_first_per_organisation_and_for_everyone(wiring: Wiring) -> None:
    columns = _index_columns(wiring, "event_data_challenges")
    assert ["organisation_id", "raised_at", "id"] in columns and ["raised_at", "id"] in columns


# -- unit of work ---------------------------------------------------------------------------------------


def _org_exists(w: Wiring, ref: str) -> bool:
    with w.uow_factory() as uow:
        return uow.organisations.by_ref(ref) is not None


def test_the_unit_of_work_rolls_back_when_not_committed(wiring: Wiring) -> None:
    with wiring.uow_factory() as uow:
        uow.organisations.add(model.Organisation(ref="ROLL01", name="Rolled back", ukprn="10000009"))
        uow.flush()
    assert not _org_exists(wiring, "ROLL01")


def test_the_unit_of_work_keeps_what_is_committed(wiring: Wiring) -> None:
    with wiring.uow_factory() as uow:
        uow.organisations.add(model.Organisation(ref="KEEP01", name="Kept", ukprn="10000009"))
        uow.commit()
    assert _org_exists(wiring, "KEEP01")


def test_the_unit_of_work_rolls_back_when_the_block_raises(wiring: Wiring) -> None:
    with pytest.raises(RuntimeError), wiring.uow_factory() as uow:
        uow.organisations.add(model.Organisation(ref="FAIL01", name="Failed", ukprn="10000009"))
        uow.flush()
        raise RuntimeError("boom")
    assert not _org_exists(wiring, "FAIL01")


def test_objects_read_in_a_unit_of_work_stay_usable_after_it_ends(demo_wiring: Wiring) -> None:
    with demo_wiring.uow_factory() as uow:
        org = uow.organisations.by_ref("DEMO01")
    assert org is not None and org.name == "Demo Awarding Organisation One"


def test_a_concurrent_change_to_the_same_achievement_is_refused_as_stale(demo_wiring: Wiring) -> None:
    one, _ = _orgs(demo_wiring)
    achievement_id = _achievement_ids(demo_wiring, one)[0]
    first, second = demo_wiring.uow_factory(), demo_wiring.uow_factory()
    with first, second:
        a1 = first.achievements.get(achievement_id, one)
        a2 = second.achievements.get(achievement_id, one)
        assert a1 is not None and a2 is not None
        version = a1.version
        a1.edit_grade("Merit", datetime(2021, 1, 1))
        first.commit()
        a2.edit_grade("Fail", datetime(2021, 1, 1))
        with pytest.raises(StaleVersion):
            second.commit()
    with demo_wiring.uow_factory() as uow:
        stored = uow.achievements.get(achievement_id, one)
        assert stored is not None and stored.grade == "Merit" and stored.version == version + 1
