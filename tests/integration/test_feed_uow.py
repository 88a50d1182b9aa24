"""The change feed in the unit of work: changes are numbered only when their transaction commits."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text
from support.demo import DEMO1_USER

from lrs_ws.domain import errors as e
from lrs_ws.service import achievements, feed
from lrs_ws.service.auth import Caller


def caller(wiring: Any, username: str = DEMO1_USER) -> Caller:
    with wiring.uow_factory() as uow:
        user = uow.users.by_username(username)
        assert user is not None and user.id is not None
        org = uow.organisations.get(user.organisation_id)
        assert org is not None
        return Caller(user.id, user.username, user.organisation_id, org.ref, user.role_set, user.email)


def feed_rows(wiring: Any) -> list[tuple[Any, ...]]:
    with wiring.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT organisation_id, seq, kind, achievement_id, version FROM achievement_changes "
                    "ORDER BY organisation_id, seq"
                )
            )
        ]


def counters(wiring: Any) -> list[tuple[Any, ...]]:
    with wiring.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM change_counters ORDER BY 1"))]


def first_achievement(wiring: Any, me: Caller) -> int:
    page = feed.list_changes(wiring.uow_factory(), caller=me, cursor=None, page_size=500)
    return page.changes[0].achievement.id  # type: ignore[return-value]


def test_a_change_whose_transaction_rolls_back_leaves_no_change_and_takes_no_number(demo_wiring: Any) -> None:
    me = caller(demo_wiring)
    aid = first_achievement(demo_wiring, me)
    before, numbers = feed_rows(demo_wiring), counters(demo_wiring)
    with pytest.raises(e.StaleVersion):
        achievements.edit_grade(
            demo_wiring.uow_factory(), caller=me, achievement_id=aid, new_grade="Merit", expected_version=99
        )
    uln = achievements.get_achievement(demo_wiring.uow_factory(), caller=me, achievement_id=aid).uln
    with pytest.raises(e.SameUlnTransfer):
        achievements.transfer(demo_wiring.uow_factory(), caller=me, achievement_id=aid, new_uln=uln)
    assert feed_rows(demo_wiring) == before and counters(demo_wiring) == numbers
    achievements.edit_grade(demo_wiring.uow_factory(), caller=me, achievement_id=aid, new_grade="Merit")
    mine = [r for r in feed_rows(demo_wiring) if r[0] == me.organisation_id]
    (_, seq, kind, achievement_id, _) = mine[-1]
    assert (kind, achievement_id) == ("GradeEdited", aid)
    assert seq == dict(numbers)[me.organisation_id] + 1


def test_each_organisation_numbers_its_own_changes_from_one_without_gaps(demo_wiring: Any) -> None:
    rows = feed_rows(demo_wiring)
    by_org: dict[int, list[int]] = {}
    for org, seq, *_ in rows:
        by_org.setdefault(org, []).append(seq)
    assert len(by_org) == 2
    for seqs in by_org.values():
        assert seqs == list(range(1, len(seqs) + 1))
    assert dict(counters(demo_wiring)) == {org: len(seqs) for org, seqs in by_org.items()}


def test_a_poll_with_nothing_new_runs_one_query_on_the_feeds_key(demo_wiring: Any) -> None:
    me = caller(demo_wiring)
    last = feed.list_changes(demo_wiring.uow_factory(), caller=me, cursor=None, page_size=500).next_cursor
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(demo_wiring.engine, "before_cursor_execute", seen)
    try:
        page = feed.list_changes(demo_wiring.uow_factory(), caller=me, cursor=last, page_size=500)
    finally:
        event.remove(demo_wiring.engine, "before_cursor_execute", seen)
    assert page.changes == [] and page.next_cursor == last and not page.has_more
    assert len(statements) == 1
    assert "FROM achievement_changes" in statements[0]
    assert "achievement_changes.organisation_id =" in statements[0]
    assert "achievement_changes.seq >" in statements[0]
