"""indexes for the EDC lists (newest first) and for an achievement's audit trail in id order

Revision ID: 0014
Revises: 0010
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_event_data_challenges_organisation_id_raised_at_id",
        "event_data_challenges", ["organisation_id", "raised_at", "id"],
    )
    op.create_index("ix_event_data_challenges_raised_at_id", "event_data_challenges", ["raised_at", "id"])
    # (achievement_id, id) serves every lookup the single-column index did, so it replaces it.
    op.create_index("ix_audit_events_achievement_id_id", "audit_events", ["achievement_id", "id"])
    op.drop_index("ix_audit_events_achievement_id", table_name="audit_events")


def downgrade() -> None:
    op.create_index("ix_audit_events_achievement_id", "audit_events", ["achievement_id"])
    op.drop_index("ix_audit_events_achievement_id_id", table_name="audit_events")
    op.drop_index("ix_event_data_challenges_raised_at_id", table_name="event_data_challenges")
    op.drop_index("ix_event_data_challenges_organisation_id_raised_at_id", table_name="event_data_challenges")
