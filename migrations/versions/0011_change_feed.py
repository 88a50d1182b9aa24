"""change feed: achievement changes numbered per organisation at commit, their counters, the cursor key

Revision ID: 0011
Revises: 0010
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "achievement_changes",
        sa.Column("organisation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("uln", sa.String(length=10), nullable=False),
        sa.Column("from_uln", sa.String(length=10), nullable=True),
        sa.Column("reference", sa.String(length=12), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("aim_type", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("grade", sa.String(length=20), nullable=False),
        sa.Column("award_date", sa.Date(), nullable=False),
        sa.Column("language", sa.String(length=50), nullable=False),
        sa.Column("provider_ukprn", sa.String(length=8), nullable=False),
        sa.Column("mis_identifier", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("under_challenge", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("edc_id", sa.Integer(), nullable=True),
        sa.Column("edc_status", sa.String(length=12), nullable=True),
        sa.Column("edc_decision", sa.String(length=10), nullable=True),
        sa.Column("edc_action_verified", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("organisation_id", "seq", name=op.f("pk_achievement_changes")),
    )
    op.create_table(
        "change_counters",
        sa.Column("organisation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_change_counters")),
    )
    secrets_table = op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_secrets")),
    )
    # The key feed cursors are signed with: in the database, so every app server signs and checks alike.
    op.bulk_insert(secrets_table, [{"name": "change_feed_cursor", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("service_secrets")
    op.drop_table("change_counters")
    op.drop_table("achievement_changes")
