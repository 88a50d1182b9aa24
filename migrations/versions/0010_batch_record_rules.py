"""batch records: the record rule a failed record broke, and its field

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rule_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("field", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batch_records", schema=None) as batch_op:
        batch_op.drop_column("field")
        batch_op.drop_column("rule_id")
