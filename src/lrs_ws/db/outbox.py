"""The outbox repository: queueing in the caller's transaction, claiming with a lease, marking the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from lrs_ws.db.tables_mail import outbox_attachments as att
from lrs_ws.db.tables_mail import outbox_messages as msg
from lrs_ws.domain.mail import Attachment, OutgoingMail, PendingMail, QueuedMail
from lrs_ws.domain.records import Purged


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, mail: OutgoingMail, now: datetime) -> None:
        result = self.session.execute(
            insert(msg).values(
                recipient=mail.recipient,
                subject=mail.subject[:200],
                body=mail.body,
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
        message_id = result.inserted_primary_key[0]  # type: ignore[attr-defined]
        for a in mail.attachments:
            self.session.execute(
                insert(att).values(
                    message_id=message_id, filename=a.filename, content_type=a.content_type, content=a.content
                )
            )

    def claim_due(
        self, now: datetime, *, token: str, lease_until: datetime, limit: int
    ) -> Sequence[QueuedMail]:
        """Claim up to `limit` due messages for this deliverer.

        One UPDATE whose subquery locks the candidate rows with FOR UPDATE SKIP LOCKED on PostgreSQL, so
        concurrent deliverers never wait for or take each other's messages. SQLite has no row locks: the
        single UPDATE statement takes the database write lock at once, which serialises claims just the same.
        """
        due = (
            select(msg.c.id)
            .where(
                msg.c.sent_at.is_(None),
                msg.c.given_up_at.is_(None),
                msg.c.next_attempt_at <= now,
                or_(msg.c.claimed_until.is_(None), msg.c.claimed_until < now),
            )
            .order_by(msg.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        self.session.execute(
            update(msg)
            .where(msg.c.id.in_(due.scalar_subquery()))
            .values(claim_token=token, claimed_until=lease_until)
            .execution_options(synchronize_session=False)
        )
        rows = self.session.execute(select(msg).where(msg.c.claim_token == token).order_by(msg.c.id)).all()
        if not rows:
            return []
        files: dict[int, list[Attachment]] = {}
        for a in self.session.execute(
            select(att).where(att.c.message_id.in_([r.id for r in rows])).order_by(att.c.id)
        ).all():
            file = Attachment(a.filename, a.content_type, bytes(a.content))
            files.setdefault(a.message_id, []).append(file)
        return [
            QueuedMail(
                id=r.id,
                mail=OutgoingMail(r.recipient, r.subject, r.body, tuple(files.get(r.id, ()))),
                attempts=r.attempts,
                created_at=r.created_at,
                last_error=r.last_error,
            )
            for r in rows
        ]

    def _finish(self, message_id: int, token: str, **values: Any) -> bool:
        result = self.session.execute(
            update(msg)
            .where(msg.c.id == message_id, msg.c.claim_token == token, msg.c.sent_at.is_(None))
            .values(claim_token=None, claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], result).rowcount == 1

    def mark_sent(self, message_id: int, token: str, now: datetime) -> bool:
        """True when this claim still held the message and it is now marked sent."""
        return self._finish(message_id, token, sent_at=now, last_error=None)

    def mark_failed(
        self,
        message_id: int,
        token: str,
        *,
        next_attempt_at: datetime,
        error: str,
        give_up_at: datetime | None,
    ) -> bool:
        """Count one failed attempt; `give_up_at` parks the message for good (until requeued)."""
        return self._finish(
            message_id,
            token,
            attempts=msg.c.attempts + 1,
            next_attempt_at=next_attempt_at,
            last_error=error[:300],
            given_up_at=give_up_at,
        )

    def release(self, message_id: int, token: str) -> bool:
        """Give a claimed message back untried (its deliverer ran out of lease time)."""
        return self._finish(message_id, token)

    def requeue_given_up(self, now: datetime) -> int:
        """Make every given-up message due again, with a fresh back-off."""
        result = self.session.execute(
            update(msg)
            .where(msg.c.sent_at.is_(None), msg.c.given_up_at.is_not(None))
            .values(given_up_at=None, attempts=0, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def make_due(self, now: datetime) -> int:
        """Make every message not sent yet due now: waiting ones and given-up ones (with a fresh back-off)."""
        unsent = msg.c.sent_at.is_(None)
        result = self.session.execute(
            update(msg)
            .where(unsent, msg.c.given_up_at.is_(None), msg.c.next_attempt_at > now)
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0) + self.requeue_given_up(now)  # type: ignore[attr-defined]

    def pending(self, limit: int) -> Sequence[PendingMail]:
        """Messages not sent yet, oldest first."""
        rows = self.session.execute(
            select(msg).where(msg.c.sent_at.is_(None)).order_by(msg.c.id).limit(limit)
        ).all()
        return [
            PendingMail(
                r.id,
                r.recipient,
                r.subject,
                r.attempts,
                r.next_attempt_at,
                r.last_error,
                r.given_up_at is not None,
            )
            for r in rows
        ]

    def counts(self, now: datetime) -> dict[str, int]:
        """Messages by state: sent, due now, waiting for a retry, given up."""
        live = msg.c.sent_at.is_(None) & msg.c.given_up_at.is_(None)

        def count(*where: Any) -> int:
            return int(self.session.scalar(select(func.count()).select_from(msg).where(*where)) or 0)

        return {
            "sent": count(msg.c.sent_at.is_not(None)),
            "due": count(live, msg.c.next_attempt_at <= now),
            "waiting": count(live, msg.c.next_attempt_at > now),
            "given_up": count(msg.c.given_up_at.is_not(None), msg.c.sent_at.is_(None)),
        }

    def purge_done(self, before: datetime, after_id: int, limit: int, dry_run: bool) -> Purged:
        ids = list(
            self.session.scalars(
                select(msg.c.id)
                .where(msg.c.id > after_id, or_(msg.c.sent_at <= before, msg.c.given_up_at <= before))
                .order_by(msg.c.id)
                .limit(limit)
            )
        )
        if not ids:
            return Purged(None, 0, 0)
        if dry_run:
            rows = self.session.scalar(select(func.count()).select_from(att).where(att.c.message_id.in_(ids)))
            return Purged(ids[-1], len(ids), rows or 0)
        attachments = self.session.execute(delete(att).where(att.c.message_id.in_(ids)))
        self.session.execute(delete(msg).where(msg.c.id.in_(ids)))
        return Purged(ids[-1], len(ids), attachments.rowcount)  # type: ignore[attr-defined]
