"""learner verification: learners.previous_family_name and learners.merged_into (a previous family name
matches, a ULN merged into another is answered for its master); batch_jobs.kind and verify_results (learner
verification batches run as batch jobs)

Revision ID: 0012
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_family_name", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("merged_into", sa.String(length=10), nullable=True))
        batch_op.create_index("ix_learners_merged_into", ["merged_into"], unique=False)
    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=12), nullable=False, server_default="Achievement")
        )
    op.create_table(
        "verify_results",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("uln", sa.String(length=20), nullable=False),
        sa.Column("response_code", sa.String(length=10), nullable=True),
        sa.Column("failure_flags", sa.String(length=40), nullable=True),
        sa.Column("master_uln", sa.String(length=10), nullable=True),
        sa.Column("error_code", sa.String(length=10), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["batch_jobs.id"], name=op.f("fk_verify_results_job_id_batch_jobs")),
        sa.PrimaryKeyConstraint("job_id", "line_no", name=op.f("pk_verify_results")),
    )


def downgrade() -> None:
    op.drop_table("verify_results")
    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index("ix_learners_merged_into")
        batch_op.drop_column("merged_into")
        batch_op.drop_column("previous_family_name")
