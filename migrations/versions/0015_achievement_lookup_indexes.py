"""achievements: a batch record's lookup by ULN, reference and MisIdentifier, indexed

The (organisation, ULN, reference) index is the leading part of the new one, so it goes.

Revision ID: 0015
Revises: 0010
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("achievements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_achievements_organisation_id_uln_reference_mis_identifier",
            ["organisation_id", "uln", "reference", "mis_identifier"],
            unique=False,
        )
        batch_op.drop_index("ix_achievements_organisation_id_uln_reference")


def downgrade() -> None:
    with op.batch_alter_table("achievements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_achievements_organisation_id_uln_reference", ["organisation_id", "uln", "reference"], unique=False
        )
        batch_op.drop_index("ix_achievements_organisation_id_uln_reference_mis_identifier")
