"""batch jobs

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("submission_type", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("records_done", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("reinstated", sa.Integer(), nullable=False),
        sa.Column("promoted", sa.Integer(), nullable=False),
        sa.Column("field_errors", sa.Integer(), nullable=False),
        sa.Column("learner_errors", sa.Integer(), nullable=False),
        sa.Column("business_errors", sa.Integer(), nullable=False),
        sa.Column("successful_final", sa.Integer(), nullable=False),
        sa.Column("successful_provisional", sa.Integer(), nullable=False),
        sa.Column("rejection_reason", sa.String(length=1000), nullable=True),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_batch_jobs_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_batch_jobs_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_jobs")),
    )
    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_batch_jobs_status_lease_expires_at", ["status", "lease_expires_at"], unique=False
        )
        batch_op.create_index("ix_batch_jobs_organisation_id_id", ["organisation_id", "id"], unique=False)

    op.create_table(
        "batch_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("achievement_status", sa.String(length=12), nullable=True),
        sa.Column("achievement_id", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=10), nullable=True),
        sa.Column("error_category", sa.String(length=20), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["batch_jobs.id"], name=op.f("fk_batch_records_job_id_batch_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_records")),
        sa.UniqueConstraint("job_id", "line_no", name=op.f("uq_batch_records_job_id_line_no")),
    )
    with op.batch_alter_table("batch_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_batch_records_job_id_state_line_no", ["job_id", "state", "line_no"], unique=False
        )

    op.create_table(
        "batch_payloads",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("first_index", sa.Integer(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("records", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["batch_jobs.id"], name=op.f("fk_batch_payloads_job_id_batch_jobs")),
        sa.PrimaryKeyConstraint("job_id", "first_index", name=op.f("pk_batch_payloads")),
    )


def downgrade() -> None:
    op.drop_table("batch_payloads")
    with op.batch_alter_table("batch_records", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_records_job_id_state_line_no")
    op.drop_table("batch_records")
    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_jobs_organisation_id_id")
        batch_op.drop_index("ix_batch_jobs_status_lease_expires_at")
    op.drop_table("batch_jobs")
