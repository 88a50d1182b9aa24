"""security: UsernameToken nonces and failed logins

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("nonce_digest", sa.String(length=64), nullable=False),
        sa.Column("token_created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_nonces")),
        sa.UniqueConstraint(
            "username", "nonce_digest", name=op.f("uq_security_nonces_username_nonce_digest")
        ),
    )
    with op.batch_alter_table("security_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_security_nonces_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_username_failed_at", ["username", "failed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_username_failed_at")
    op.drop_table("login_failures")
    with op.batch_alter_table("security_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_nonces_expires_at"))
    op.drop_table("security_nonces")
