"""Tables behind replay protection and login throttling, on the shared metadata.

Both live in the database so that every gunicorn worker, every `lrs-ws` process and every restart sees the
same nonces and the same failed logins.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from lrs_ws.db.tables import metadata

# One row per accepted UsernameToken nonce, kept until a token carrying it could no longer be fresh.
security_nonces = Table(
    "security_nonces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(100), nullable=False),
    # SHA-256 of the nonce as sent: fixed size whatever the client sends, and never the nonce itself.
    Column("nonce_digest", String(64), nullable=False),
    Column("token_created", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False, index=True),
    UniqueConstraint("username", "nonce_digest"),
)

# One row per failed login, kept for the throttling window, by user name and the source address it came from:
# the lock is per (user name, source); deleting a user name's rows lifts every lock of that user.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(100), nullable=False),
    Column("source", String(64), nullable=False),
    Column("failed_at", DateTime, nullable=False),
    Index("ix_login_failures_username_source_failed_at", "username", "source", "failed_at"),
    Index("ix_login_failures_failed_at", "failed_at"),
)

# Client certificates an organisation's systems present to the TLS proxy (the second factor of every call).
client_certificates = Table(
    "client_certificates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False, index=True),
    # SHA-256 of the certificate's DER encoding, 64 lower-case hex digits; one organisation per certificate.
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("added_at", DateTime, nullable=False),
)

# One-time tokens with which a user added by its organisation sets its first password. Only the SHA-256 of a
# token is stored; a token is used at most once (used_at) and not after expires_at.
password_tokens = Table(
    "password_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_digest", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("used_at", DateTime, nullable=True),
)

__all__ = ["client_certificates", "login_failures", "password_tokens", "security_nonces"]
