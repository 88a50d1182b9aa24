"""learners.previous_family_name and learners.merged_into: learner verification matches a previous family name,
and a ULN merged into another (linked) is answered for its master

Revision ID: 0012
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_family_name", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("merged_into", sa.String(length=10), nullable=True))
        batch_op.create_index("ix_learners_merged_into", ["merged_into"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index("ix_learners_merged_into")
        batch_op.drop_column("merged_into")
        batch_op.drop_column("previous_family_name")
