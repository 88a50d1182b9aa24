"""ListAchievementChanges over SOAP against the live server: every kind of change in the order it was made,
paging, a client's replayed copy, and an organisation confined to its own feed. The demo database is shared,
so each test reads from the end of the feed as it found it and follows its own achievements."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import text
from support.dbstate import db_state
from support.demo import GRACE, OWEN
from support.records import achievement_record, create_id
from support.soap import DEMO1, DEMO2, LRS, expect_fault, fault_message

FEED_TABLES = (
    "achievements",
    "event_data_challenges",
    "audit_events",
    "achievement_changes",
    "change_counters",
)


def feed_page(soap: Any, user: dict[str, str], cursor: str | None, size: int | None = None) -> Any:
    return soap.ListAchievementChanges(invokingUser=user, cursor=cursor, pageSize=size)


def changes_of(page: Any) -> list[Any]:
    return list(page.Changes.AchievementChange) if page.Changes else []


def read_all(soap: Any, user: dict[str, str], cursor: str | None, size: int = 500) -> tuple[list[Any], str]:
    """Every change after `cursor`, following NextCursor until HasMore is false (bounded)."""
    seen: list[Any] = []
    for _ in range(10_000):
        page = feed_page(soap, user, cursor, size)
        seen += changes_of(page)
        cursor = page.NextCursor
        if not page.HasMore:
            return seen, cursor
    raise AssertionError("the feed never said it had no more")


def tail(soap: Any, user: dict[str, str]) -> str:
    return read_all(soap, user, None)[1]


def test_each_kind_of_change_appears_in_the_order_it_was_made(soap: Any) -> None:
    start = tail(soap, DEMO1)
    record = achievement_record(OWEN, grade="Pass")
    made = soap.CreateAchievement(invokingUser=DEMO1, submissionType="Provisional", achievement=record)
    aid = int(made.AchievementId)
    soap.CreateAchievement(invokingUser=DEMO1, submissionType="Final", achievement=record)
    soap.EditAchievementGrade(invokingUser=DEMO1, achievementId=aid, newGrade="Distinction")
    soap.WithdrawAchievement(invokingUser=DEMO1, achievementId=aid, reason="Entered in error")
    soap.ReinstateAchievement(invokingUser=DEMO1, achievementId=aid)
    soap.TransferAchievement(invokingUser=DEMO1, achievementId=aid, newUln=GRACE)
    edc = soap.RaiseEventDataChallenge(
        invokingUser=LRS,
        achievementId=aid,
        problemType="GradeIncorrect",
        description="Should be Merit",
        recommendedAction="EditGrade",
        suppliedValue="Merit",
    )
    soap.ProcessEventDataChallenge(invokingUser=DEMO1, reference=edc.Reference)
    soap.RecordEventDataChallengeDecision(
        invokingUser=DEMO1, reference=edc.Reference, decision="Accepted", reason="Agreed"
    )
    soap.EditAchievementGrade(invokingUser=DEMO1, achievementId=aid, newGrade="Merit")
    soap.CloseEventDataChallenge(invokingUser=LRS, reference=edc.Reference)
    deleted = soap.DeleteAchievement(invokingUser=DEMO1, achievementId=aid)

    changes = [c for c in read_all(soap, DEMO1, start)[0] if c.Achievement.AchievementId == aid]

    assert [c.Kind for c in changes] == [
        "Created",
        "PromotedToFinal",
        "GradeEdited",
        "Withdrawn",
        "Reinstated",
        "TransferredOut",
        "TransferredIn",
        "UnderDataChallengeChanged",
        "EdcRaised",
        "EdcProcessed",
        "EdcDecided",
        "GradeEdited",
        "EdcVerified",
        "UnderDataChallengeChanged",
        "EdcClosed",
        "Deleted",
    ]
    by_kind = {c.Kind: c for c in changes}
    assert by_kind["Created"].Achievement.Status == "Provisional"
    assert by_kind["PromotedToFinal"].Achievement.Status == "Final"
    assert by_kind["Withdrawn"].Achievement.Withdrawn is True
    assert by_kind["Reinstated"].Achievement.Withdrawn is False
    for kind in ("TransferredOut", "TransferredIn"):
        assert (by_kind[kind].FromUln, by_kind[kind].Achievement.Uln) == (OWEN, GRACE)
    assert by_kind["EdcRaised"].Achievement.UnderDataChallenge == "Y"
    assert (by_kind["EdcRaised"].EdcReference, by_kind["EdcRaised"].EdcStatus) == (edc.Reference, "New")
    assert by_kind["EdcProcessed"].EdcStatus == "InProgress"
    assert by_kind["EdcDecided"].EdcDecision == "Accepted"
    assert by_kind["EdcVerified"].EdcActionVerified is True
    assert (by_kind["EdcClosed"].EdcStatus, by_kind["EdcClosed"].Achievement.UnderDataChallenge) == (
        "Complete",
        "N",
    )
    assert by_kind["Deleted"].Deleted is True and not any(c.Deleted for c in changes[:-1])
    # Each change shows the version the achievement had once it was made; the last is the current one.
    versions = [c.Achievement.Version for c in changes]
    assert versions == sorted(versions) and versions[-1] == deleted.Version
    sequences = [c.Sequence for c in changes]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


def test_a_poll_with_nothing_new_answers_no_changes_and_the_same_position(soap: Any) -> None:
    start = tail(soap, DEMO2)
    again = feed_page(soap, DEMO2, start)
    assert changes_of(again) == [] and again.HasMore is False
    aid = create_id(soap, DEMO2, uln=OWEN)
    after = feed_page(soap, DEMO2, again.NextCursor)
    assert [(c.Kind, c.Achievement.AchievementId) for c in changes_of(after)] == [("Created", aid)]
    assert changes_of(feed_page(soap, DEMO2, after.NextCursor)) == []


def test_small_pages_followed_by_next_cursor_give_the_same_changes_as_one_large_page(soap: Any) -> None:
    start = tail(soap, DEMO1)
    for grade in ("A", "B", "C", "D", "E"):
        create_id(soap, DEMO1, uln=OWEN, grade=grade)
    whole = changes_of(feed_page(soap, DEMO1, start, 500))
    paged, _ = read_all(soap, DEMO1, start, size=2)
    assert len(whole) == 5
    assert [c.Sequence for c in paged] == [c.Sequence for c in whole]
    first = feed_page(soap, DEMO1, start, 2)
    assert len(changes_of(first)) == 2 and first.HasMore is True


def test_a_client_that_replays_its_organisations_feed_from_the_start_holds_its_achievements(
    soap: Any, live_wiring: Any
) -> None:
    create_id(soap, DEMO2, uln=GRACE)
    changes, _ = read_all(soap, DEMO2, None)
    copy: dict[int, tuple[Any, ...]] = {}
    for c in changes:
        a = c.Achievement
        if c.Deleted:
            copy.pop(a.AchievementId, None)
        else:
            flag = a.UnderDataChallenge == "Y"
            copy[a.AchievementId] = (a.Uln, a.Grade, a.Status, a.Withdrawn, flag, a.Version)
    with live_wiring.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.id, a.uln, a.grade, a.status, a.withdrawn, a.under_challenge, a.version "
                "FROM achievements a JOIN organisations o ON o.id = a.organisation_id "
                "WHERE o.ref = 'DEMO02' AND NOT a.deleted"
            )
        ).all()
    assert copy == {r[0]: (r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6]) for r in rows}


def test_another_organisation_sees_none_of_an_organisations_changes(soap: Any) -> None:
    theirs = tail(soap, DEMO2)
    aid = create_id(soap, DEMO1, uln=OWEN)
    soap.EditAchievementGrade(invokingUser=DEMO1, achievementId=aid, newGrade="Merit")
    seen, _ = read_all(soap, DEMO2, theirs)
    assert aid not in {c.Achievement.AchievementId for c in seen}
    everything, _ = read_all(soap, DEMO2, None)
    assert aid not in {c.Achievement.AchievementId for c in everything}


def test_a_cursor_of_another_organisation_is_refused_and_changes_nothing(soap: Any, live_wiring: Any) -> None:
    theirs = tail(soap, DEMO2)
    before = db_state(live_wiring.engine, FEED_TABLES)
    fault = expect_fault("WSEC0103", feed_page, soap, DEMO1, theirs)
    assert "cursor" in fault_message(fault)
    assert db_state(live_wiring.engine, FEED_TABLES) == before


@pytest.mark.parametrize("tamper", ["number", "organisation", "garbage"])
def test_a_tampered_cursor_is_refused_and_changes_nothing(soap: Any, live_wiring: Any, tamper: str) -> None:
    mine = tail(soap, DEMO1)
    raw = base64.urlsafe_b64decode(mine + "=" * (-len(mine) % 4))
    org, _, rest = raw.partition(b".")  # "<organisation id>.<number>.<signature>"
    if tamper == "number":
        forged_raw = org + b".0" + rest[rest.index(b".") :]
    elif tamper == "organisation":
        forged_raw = str(int(org) + 1).encode() + b"." + rest
    else:
        forged_raw = b"\x00" * len(raw)
    forged = base64.urlsafe_b64encode(forged_raw).decode().rstrip("=")
    before = db_state(live_wiring.engine, FEED_TABLES)
    expect_fault("WSEC0103", feed_page, soap, DEMO1, forged)
    assert db_state(live_wiring.engine, FEED_TABLES) == before


@pytest.mark.parametrize("size", [0, 501])
def test_a_page_size_outside_the_limits_of_the_other_lists_is_refused(soap: Any, size: int) -> None:
    fault = expect_fault("WSEC0103", feed_page, soap, DEMO1, None, size)
    assert "pageSize" in fault_message(fault)


def test_the_default_page_is_as_large_as_the_other_lists(soap: Any) -> None:
    page = feed_page(soap, DEMO1, None)
    assert len(changes_of(page)) <= 50
    if page.HasMore:
        assert len(changes_of(page)) == 50


def test_lrs_business_support_has_no_feed_of_its_own(soap: Any) -> None:
    expect_fault("WSEC0006", feed_page, soap, LRS, None)


def test_a_wrong_password_reads_nothing(soap: Any) -> None:
    expect_fault("WSEC0003", feed_page, soap, {**DEMO1, "OrgPassword": "wrong-password-0001"}, None)
    # The right password reads again, and forgets the failed login (the session's other tests share DEMO1).
    feed_page(soap, DEMO1, None, 1)
