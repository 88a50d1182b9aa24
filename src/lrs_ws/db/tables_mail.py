"""The e-mail outbox: messages queued in the same transaction as the change that causes them.

A message is due while `sent_at` and `given_up_at` are NULL and `next_attempt_at` has passed. A
deliverer claims a message by writing a fresh `claim_token` and a `claimed_until` lease; a claim whose
lease has run out (its deliverer died) can be taken again. `attempts` counts failed deliveries (for the
back-off); a message is given up only after the SMTP server refused it permanently (5xx) and its attempts
reached the configured maximum, never because the server was unreachable.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from lrs_ws.db.tables import metadata

outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("recipient", String(254), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("sent_at", DateTime, nullable=True),
    Column("last_error", String(300), nullable=True),
    Column("given_up_at", DateTime, nullable=True),
    Column("claim_token", String(32), nullable=True),
    Column("claimed_until", DateTime, nullable=True),
    Index("ix_outbox_messages_sent_at_next_attempt_at", "sent_at", "next_attempt_at"),
)

outbox_attachments = Table(
    "outbox_attachments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", Integer, ForeignKey("outbox_messages.id"), nullable=False, index=True),
    Column("filename", String(200), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

__all__ = ["outbox_messages", "outbox_attachments"]
