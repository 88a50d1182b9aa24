"""Statements sent on the driver's cursor answer what SQLAlchemy would have answered."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lrs_ws.app import Wiring
from lrs_ws.db.driver_sql import DriverSelect
from lrs_ws.db.tables import achievements, learners
from lrs_ws.db.tables_security import login_failures


def _both(session: Session, statement: Any, params: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    by_sqlalchemy = [tuple(row) for row in session.execute(statement, params).all()]
    by_driver = DriverSelect(statement).all(session, params)
    return by_sqlalchemy, by_driver


def test_rows_read_on_the_driver_hold_the_values_and_types_sqlalchemy_gives(demo_wiring: Wiring) -> None:
    page = (
        select(achievements)
        .where(achievements.c.uln == bindparam("uln"), achievements.c.deleted.is_(False))
        .order_by(achievements.c.award_date.desc(), achievements.c.id)
        .limit(bindparam("size"))
    )
    learner = select(learners).where(learners.c.uln == bindparam("uln"))
    with Session(demo_wiring.engine) as session:
        expected, got = _both(session, page, {"uln": "3415521949", "size": 50})
        assert len(got) >= 3
        assert [tuple(row) for row in got] == expected
        assert [[type(v) for v in row] for row in got] == [[type(v) for v in row] for row in expected]
        assert isinstance(got[0].award_date, date) and isinstance(got[0].created_at, datetime)
        assert got[0].withdrawn is False and got[0].deleted is False
        expected, got = _both(session, learner, {"uln": "3415521949"})
        assert [tuple(row) for row in got] == expected and got[0].uln == "3415521949"
        assert _both(session, learner, {"uln": "9999999999"}) == ([], [])


def test_a_datetime_parameter_is_compared_as_sqlalchemy_stores_it(demo_wiring: Wiring) -> None:
    at = datetime(2026, 5, 1, 12, 0, 0)  # a whole second: the stored text has microseconds all the same
    recent = select(login_failures.c.id).where(login_failures.c.failed_at >= bindparam("since"))
    with Session(demo_wiring.engine) as session:
        session.execute(login_failures.insert().values(username="u", source="s", failed_at=at))
        tick = timedelta(microseconds=1)
        for since, found in ((at, 1), (at - tick, 1), (at + tick, 0)):
            expected, got = _both(session, recent, {"since": since})
            assert (len(expected), len(got)) == (found, found), since
        session.rollback()


def test_a_driver_error_reaches_the_caller_wrapped_as_sqlalchemy_wraps_one(demo_wiring: Wiring) -> None:
    broken = select(text("no_such_column")).select_from(learners).where(learners.c.uln == bindparam("uln"))
    with Session(demo_wiring.engine) as session, pytest.raises(DBAPIError) as raised:
        DriverSelect(broken).all(session, {"uln": "3415521949"})
    assert not raised.value.connection_invalidated
    assert "no_such_column" in str(raised.value.orig)
