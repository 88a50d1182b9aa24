"""client certificates bound to organisations; the certificate each audited change came with

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"],
            name=op.f("fk_client_certificates_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_certificates")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_client_certificates_fingerprint")),
    )
    with op.batch_alter_table("client_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_certificates_organisation_id"), ["organisation_id"], unique=False
        )
    # A new column with a constant default: no table rewrite on PostgreSQL, so app servers may keep running.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "client_certificate", sa.String(length=64), nullable=False, server_default=sa.text("''")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("client_certificate")
    with op.batch_alter_table("client_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_certificates_organisation_id"))
    op.drop_table("client_certificates")
