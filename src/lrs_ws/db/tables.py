"""Table metadata and the imperative mapping of the domain entities onto it.

Migrations import only `metadata` from here.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import registry

# Ids are 32-bit integer columns; a client can send any integer. PostgreSQL refuses a larger one with an
# error (and SQLite overflows past 64 bits), so such an id is simply one that matches nothing.
_ID_MIN, _ID_MAX = -(2**31), 2**31 - 1


def storable_id(value: int | None) -> bool:
    """Whether `value` fits an id column (an id that does not matches no row)."""
    return value is not None and _ID_MIN <= value <= _ID_MAX


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ref", String(6), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("ukprn", String(8), nullable=False),
    Column("batch_enabled", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False, index=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("roles", String(100), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

learners = Table(
    "learners",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uln", String(10), nullable=False, unique=True),
    Column("given_name", String(35), nullable=False),
    Column("family_name", String(35), nullable=False),
    Column("date_of_birth", Date, nullable=True),
    Column("gender", Integer, nullable=False, default=0),
    Column("postcode", String(10), nullable=True),
    # The family name the learner had before (verification matches it too).
    Column("previous_family_name", String(35), nullable=True),
    # The master ULN this one was merged into; masters are never themselves merged (one level deep).
    Column("merged_into", String(10), nullable=True, index=True),
)

learning_aims = Table(
    "learning_aims",
    metadata,
    Column("reference", String(12), primary_key=True),
    Column("title", String(255), nullable=False),
    Column("aim_type", String(20), nullable=False),
    Column("level", String(20), nullable=False),
)

achievements = Table(
    "achievements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False),
    Column("uln", String(10), nullable=False),
    Column("reference", String(12), nullable=False),
    Column("title", String(255), nullable=False),
    Column("aim_type", String(20), nullable=False),
    Column("level", String(20), nullable=False),
    Column("grade", String(20), nullable=False, default=""),
    Column("award_date", Date, nullable=False),
    Column("language", String(50), nullable=False, default=""),
    Column("provider_ukprn", String(8), nullable=False, default=""),
    Column("mis_identifier", String(50), nullable=False, default=""),
    Column("status", String(12), nullable=False),
    Column("withdrawn", Boolean, nullable=False, default=False),
    Column("withdrawn_reason", String(200), nullable=False, default=""),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("under_challenge", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_achievements_organisation_id_uln", "organisation_id", "uln"),
    # A batch record's lookup by ULN, reference and MisIdentifier (db/batch_chunks.py) is one probe
    # whatever the learner holds. The only index of these columns beyond (organisation, ULN): PostgreSQL
    # plans each key's lookup without seeing the key, and chose an (organisation, ULN, reference, award
    # date) index beside it, scanning all of a learner's achievements of the reference for every key.
    Index(
        "ix_achievements_organisation_id_uln_reference_mis_identifier",
        "organisation_id",
        "uln",
        "reference",
        "mis_identifier",
    ),
)

event_data_challenges = Table(
    "event_data_challenges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False),
    Column("achievement_id", Integer, ForeignKey("achievements.id"), nullable=False, index=True),
    Column("uln", String(10), nullable=False),
    Column("given_name", String(35), nullable=False),
    Column("family_name", String(35), nullable=False),
    Column("problem_type", String(30), nullable=False),
    Column("description", String(1000), nullable=False),
    Column("recommended_action", String(30), nullable=False),
    Column("supplied_value", String(50), nullable=False, default=""),
    Column("status", String(12), nullable=False),
    Column("decision", String(10), nullable=True),
    Column("decision_reason", String(1000), nullable=False, default=""),
    Column("decided_at", DateTime, nullable=True),
    Column("raised_at", DateTime, nullable=False),
    Column("raised_by", String(100), nullable=False),
    Column("resolved_at", DateTime, nullable=True),
    Column("due_date", Date, nullable=False),
    Column("action_verified", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False),
    Index("ix_event_data_challenges_organisation_id_status", "organisation_id", "status"),
    # The EDC lists, newest first: one organisation's, and LRS Business Support's of every organisation.
    Index("ix_event_data_challenges_organisation_id_raised_at_id", "organisation_id", "raised_at", "id"),
    Index("ix_event_data_challenges_raised_at_id", "raised_at", "id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("username", String(100), nullable=False),
    Column("organisation_id", Integer, nullable=True),
    Column("operation", String(60), nullable=False),
    Column("achievement_id", Integer, nullable=True),
    Column("edc_id", Integer, nullable=True, index=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("request_id", String(64), nullable=False, default=""),
    # SHA-256 fingerprint of the client certificate the change came with ("" without one).
    Column("client_certificate", String(64), nullable=False, default="", server_default=text("''")),
    # The user a user-management change was made to (GetUserHistory), None for every other event.
    Column("subject_user_id", Integer, nullable=True, index=True),
    # An achievement's history a page at a time, and its events after an EDC decision, in id order.
    Index("ix_audit_events_achievement_id_id", "achievement_id", "id"),
)

mapper_registry = registry(metadata=metadata)
_mapped = False


def start_mappers() -> None:
    """Map the domain classes onto the tables (idempotent)."""
    global _mapped
    if _mapped:
        return
    from lrs_ws.domain import model

    mapper_registry.map_imperatively(model.Organisation, organisations)
    mapper_registry.map_imperatively(model.User, users)
    mapper_registry.map_imperatively(model.Learner, learners)
    mapper_registry.map_imperatively(model.Achievement, achievements, version_id_col=achievements.c.version)
    mapper_registry.map_imperatively(
        model.EventDataChallenge, event_data_challenges, version_id_col=event_data_challenges.c.version
    )
    mapper_registry.map_imperatively(model.AuditEvent, audit_events)
    _mapped = True


__all__ = ["metadata", "start_mappers", "UniqueConstraint"]
