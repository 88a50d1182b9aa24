"""An achievement as plain data and as a row of the achievements table: the one list of the table's columns
and the one mapping between them, which the hot reads, the change feed and the batch worker's bulk insert use
(the ORM mapping of `Achievement` onto the table is in tables.py)."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from lrs_ws.db.tables import achievements
from lrs_ws.domain import model

# The achievements table's columns, in the table's order.
COLUMNS = tuple(achievements.c.keys())
_VALUES = attrgetter(*COLUMNS)


def achievement_data(row: Any) -> model.AchievementData:
    """The achievement in `row`, which has the achievements table's columns by their names (a row of the
    table, or a change of the feed read under those names)."""
    a = model.AchievementData(
        organisation_id=row.organisation_id,
        uln=row.uln,
        reference=row.reference,
        title=row.title,
        aim_type=row.aim_type,
        level=row.level,
        grade=row.grade,
        award_date=row.award_date,
        language=row.language,
        provider_ukprn=row.provider_ukprn,
        mis_identifier=row.mis_identifier,
        status=row.status,
        created_at=row.created_at,
    )
    a.id = row.id
    a.withdrawn = row.withdrawn
    a.withdrawn_reason = row.withdrawn_reason
    a.deleted = row.deleted
    a.under_challenge = row.under_challenge
    a.updated_at = row.updated_at
    a.version = row.version
    return a


def row_values(a: model.AchievementData) -> tuple[Any, ...]:
    """The achievement's values in the order of COLUMNS (a row to insert: its id and version set)."""
    return _VALUES(a)
