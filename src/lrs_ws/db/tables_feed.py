"""The change feed, on the shared metadata: one row per change an organisation can read, numbered per
organisation when its transaction commits; the counter that numbers them; the service's own secrets."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Integer, String, Table

from lrs_ws.db.tables import metadata

achievement_changes = Table(
    "achievement_changes",
    metadata,
    # The primary key is the feed's one index: a poll reads (organisation_id, seq > cursor) in order.
    Column("organisation_id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("achievement_id", Integer, nullable=False),
    # The achievement as the change's transaction left it.
    Column("uln", String(10), nullable=False),
    Column("from_uln", String(10), nullable=True),
    Column("reference", String(12), nullable=False),
    Column("title", String(255), nullable=False),
    Column("aim_type", String(20), nullable=False),
    Column("level", String(20), nullable=False),
    Column("grade", String(20), nullable=False),
    Column("award_date", Date, nullable=False),
    Column("language", String(50), nullable=False),
    Column("provider_ukprn", String(8), nullable=False),
    Column("mis_identifier", String(50), nullable=False),
    Column("status", String(12), nullable=False),
    Column("withdrawn", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("under_challenge", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("edc_id", Integer, nullable=True),
    Column("edc_status", String(12), nullable=True),
    Column("edc_decision", String(10), nullable=True),
    Column("edc_action_verified", Boolean, nullable=True),
)

# The last sequence number given to each organisation's changes. Its row is locked from the moment a
# committing transaction takes its numbers until that transaction ends, so numbers follow commit order.
change_counters = Table(
    "change_counters",
    metadata,
    Column("organisation_id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
)

service_secrets = Table(
    "service_secrets",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(128), nullable=False),
)

__all__ = ["achievement_changes", "change_counters", "service_secrets"]
