"""retention: when a batch job's records were purged, and the periodic tasks' last runs

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(), nullable=True))
    maintenance_runs = op.create_table(
        "maintenance_runs",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_maintenance_runs")),
    )
    op.bulk_insert(maintenance_runs, [{"name": "purge", "last_run_at": None}])


def downgrade() -> None:
    op.drop_table("maintenance_runs")
    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
