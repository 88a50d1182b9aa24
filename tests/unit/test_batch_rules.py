"""Batch rules without a database: counts and final status, stored payloads, batch files, the error file,
and a chunk's view of the achievements its records refer to."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest

from lrs_ws.domain import batch as b
from lrs_ws.domain import errors as e
from lrs_ws.domain import model
from lrs_ws.domain.batch import ChunkContext
from lrs_ws.domain.error_codes import error_code, record_error
from lrs_ws.service import batch, batch_codec, records
from lrs_ws.service.auth import Caller
from lrs_ws.service.batch_processing import ChunkView
from lrs_ws.service.records import FIELD_NAMES, AchievementRecord

NOW = datetime(2024, 1, 5, 12, 0)
CALLER = Caller(1, "demo1.edc", 1, "DEMO01", frozenset({model.ROLE_AO_USER}))


# -- counts and status ---------------------------------------------------------------------------------------


def stored_row(row: dict[str, str | None]) -> str:
    """A file's row as the batch stores it."""
    return batch_codec.encode_values(batch_codec.row_values(row))


def test_counts_add_up_and_a_create_that_promotes_counts_only_as_promoted():
    c = b.BatchCounts(records=6)
    c.count_applied(b.CREATED, promoted=False, final=True)
    c.count_applied(b.PROMOTED_TO_FINAL, promoted=True, final=True)
    c.count_applied(b.UPDATED, promoted=True, final=True)
    c.count_applied(b.WITHDRAWN, promoted=False, final=False)
    c.count_refused(b.FIELD_ERROR)
    c.count_refused(b.LEARNER_ERROR, n=1)
    assert (c.created, c.updated, c.withdrawn, c.promoted) == (1, 1, 1, 2)
    assert (c.successful_final, c.successful_provisional, c.successful, c.failed, c.done) == (3, 1, 4, 2, 6)
    assert c.percentage_successful == pytest.approx(66.67)


def test_a_job_is_successful_when_any_record_applied_and_failed_when_none_did():
    some = b.BatchCounts(records=2, successful_final=1, field_errors=1)
    none = b.BatchCounts(records=2, field_errors=1, business_errors=1)
    assert b.final_status(some) == (b.SUCCESSFUL, None)
    status, reason = b.final_status(none)
    assert status == b.FAILED and reason is not None and "2 records" in reason


def test_duration_reads_like_a_timespan():
    start = datetime(2024, 1, 1, 10, 0, 0)
    assert b.format_duration(start, start + timedelta(hours=26, minutes=3, seconds=9)) == "26:03:09"
    assert b.format_duration(start, None) is None


# -- payloads ----------------------------------------------------------------------------------------------


def test_a_soap_record_survives_storage_with_its_types():
    record = AchievementRecord(
        AchievementAwardDate=datetime(2023, 7, 1),
        Action=1,
        ActionDate=datetime(2024, 1, 5, tzinfo=UTC),
        FamilyName="Pickles",
        GivenName="James",
        Gender=1,
        Uln="8659377485",
        UnitOrQualificationReferenceNumber="K/501/5773",
        MisIdentifier="Ünïcode",
    )
    assert batch_codec.decode_record(batch_codec.encode_values(batch_codec.record_values(record))) == record


def test_a_file_row_is_stored_as_written_and_typed_when_processed():
    row = dict.fromkeys(FIELD_NAMES, "")
    row.update(AchievementAwardDate="01/07/2023", Action=" 2 ", Gender="9", Uln="8659377485", Grade=" Pass ")
    decoded = batch_codec.decode_record(stored_row(row))
    assert decoded.AchievementAwardDate == datetime(2023, 7, 1)
    assert (decoded.Action, decoded.Gender, decoded.Grade, decoded.ActionDate) == (2, 9, "Pass", None)


@pytest.mark.parametrize(("field", "value"), [("AchievementAwardDate", "2023-02-30"), ("Action", "one")])
def test_a_cell_that_does_not_parse_is_a_field_error_of_its_record(field, value):
    payload = stored_row({field: value})
    with pytest.raises(e.InvalidValue) as err:
        batch_codec.decode_record(payload)
    assert err.value.field == field
    assert record_error(type(err.value)) == ("WSEC0103", b.FIELD_ERROR)


# -- batch files ---------------------------------------------------------------------------------------------


def test_a_batch_file_header_may_list_the_fields_in_any_order_and_case():
    header = ",".join(reversed([n.lower() for n in FIELD_NAMES]))
    body = (
        header
        + "\n"
        + ",".join(["J/602/3521", "3415521949"] + [""] * 13)
        + "\n\n"
        + ",".join(["K/501/5773", "8659377485", "", '"Two\nlines"'] + [""] * 11)
        + "\n"
    )
    rows = list(batch.csv_rows(io.StringIO(body)))
    assert [(line, r["Uln"], r["UnitOrQualificationReferenceNumber"]) for line, r in rows] == [
        (2, "3415521949", "J/602/3521"),
        (5, "8659377485", "K/501/5773"),
    ]


def test_an_empty_file_is_refused_as_holding_no_achievements():
    with pytest.raises(e.BatchRefused) as refused:
        list(batch.csv_rows(io.StringIO("")))
    assert error_code(refused.value) == "WSEC0047"


# -- the error file --------------------------------------------------------------------------------------


def test_the_error_file_has_a_header_and_a_row_per_failed_record_and_no_formulas():
    failed = [
        b.FailedRecord(
            3,
            stored_row(
                {"MisIdentifier": "=HYPERLINK(1)", "Uln": "1", "UnitOrQualificationReferenceNumber": "X"}
            ),
            "WSEC0136",
            "The ULN is not valid.",
            "ULN_CHECK_DIGIT",
            "Uln",
        ),
        b.FailedRecord(
            5,
            stored_row({"MisIdentifier": "M5", "Grade": "@SUM(A1:A9) with distinction"}),
            "WSEC0101",
            "The grade is too long.",
            "GRADE_TOO_LONG",
            "Grade",
        ),
        b.FailedRecord(7, "not json", "WSEC0199", "internal", "RECORD_INTERNAL_ERROR", ""),
    ]
    text = batch_codec.error_file(failed)
    assert text is not None
    assert text.splitlines() == [
        '"Line","MisIdentifier","Uln","UnitOrQualificationReferenceNumber","ErrorCode","ErrorMessage","RuleId","Field","Value"',
        '"3","\'=HYPERLINK(1)","1","X","WSEC0136","The ULN is not valid.","ULN_CHECK_DIGIT","Uln","1"',
        '"5","M5","","","WSEC0101","The grade is too long.","GRADE_TOO_LONG","Grade",'
        '"\'@SUM(A1:A9) with distinction"',
        '"7","","","","WSEC0199","internal","RECORD_INTERNAL_ERROR","",""',
    ]
    assert batch_codec.error_file([]) is None


# -- deciding records against a chunk's view -------------------------------------------------------------


def _existing(**changes: object) -> model.AchievementData:
    a = model.AchievementData(
        organisation_id=1,
        uln="3415521949",
        reference="J/602/3521",
        title="t",
        aim_type="Unit",
        level="",
        grade="",
        award_date=date(2010, 1, 1),
        mis_identifier="M1",
        created_at=NOW,
    )
    a.id, a.version = 10, 1
    for k, v in changes.items():
        setattr(a, k, v)
    return a


def _view(*achievements: model.AchievementData) -> ChunkView:
    learner = model.LearnerData(uln="3415521949", given_name="Test", family_name="Learner")
    return ChunkView(ChunkContext({"3415521949": learner}, {}, list(achievements)))


def _clean(action: int, **fields: object) -> records.CleanRecord:
    base: dict[str, object] = dict(
        AchievementAwardDate=datetime(2010, 1, 1),
        Action=action,
        GivenName="test",
        FamilyName="LEARNER",
        ProviderUkprn="10000001",
        Uln="3415521949",
        UnitOrQualificationReferenceNumber="J/602/3521",
    )
    base.update(fields)
    return records.clean(AchievementRecord(**base), NOW.date())  # type: ignore[arg-type]


def test_a_chunk_view_matches_only_live_achievements_of_the_organisation_narrowed_by_mis_identifier():
    view = _view(
        _existing(), _existing(mis_identifier="M2"), _existing(organisation_id=2), _existing(deleted=True)
    )
    assert len(view.matching(1, "3415521949", "J/602/3521", None)) == 2
    assert [a.mis_identifier for a in view.matching(1, "3415521949", "J/602/3521", "M2")] == ["M2"]


def test_a_record_created_earlier_in_the_chunk_is_a_target_for_later_records():
    view = _view()
    created = records.decide(view, CALLER, _clean(1, MisIdentifier="N1"), model.FINAL, NOW)
    assert created.created and type(created.achievement) is model.AchievementData
    with pytest.raises(e.DuplicateAchievement):
        records.decide(view, CALLER, _clean(1, MisIdentifier="N1"), model.FINAL, NOW)
    withdrawn = records.decide(view, CALLER, _clean(3, MisIdentifier="N1"), model.FINAL, NOW)
    assert withdrawn.achievement is created.achievement and created.achievement.withdrawn


def test_a_refused_record_changes_nothing_in_memory():
    target = _existing(withdrawn=True)
    before = target.snapshot()
    with pytest.raises(e.InvalidTransition):
        records.decide(_view(target), CALLER, _clean(2, MisIdentifier="M1", Grade="Merit"), model.FINAL, NOW)
    assert target.snapshot() == before
