"""Repositories for replay protection (used nonces), login throttling (failed logins) and client
certificates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lrs_ws.db.tables_security import client_certificates, login_failures, security_nonces
from lrs_ws.service.uow import ClientCertificate


class NonceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def remember(self, username: str, digest: str, created: datetime, expires_at: datetime) -> bool:
        """Store a nonce; False when it is already stored (a replay).

        The unique constraint decides, so two workers racing with the same nonce cannot both win: on
        PostgreSQL the second insert waits for the first transaction and then does nothing.
        """
        values = {
            "username": username, "nonce_digest": digest, "token_created": created, "expires_at": expires_at
        }
        dialect = self.session.get_bind().dialect.name
        stmt: Any
        if dialect == "postgresql":
            stmt = postgresql.insert(security_nonces).values(**values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite.insert(security_nonces).values(**values).on_conflict_do_nothing()
        else:
            try:
                with self.session.begin_nested():
                    self.session.execute(insert(security_nonces).values(**values))
            except IntegrityError:
                return False
            return True
        # rowcount is not reliable here (-1 with psycopg): ask for the new row's id instead.
        return self.session.execute(stmt.returning(security_nonces.c.id)).first() is not None

    def purge_expired(self, now: datetime) -> int:
        result = self.session.execute(delete(security_nonces).where(security_nonces.c.expires_at < now))
        return max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]


class LoginFailureRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, username: str, at: datetime) -> None:
        self.session.execute(insert(login_failures).values(username=username, failed_at=at))

    def count_since(self, username: str, since: datetime) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(login_failures)
                .where(login_failures.c.username == username, login_failures.c.failed_at >= since)
            )
            or 0
        )

    def clear(self, username: str) -> None:
        self.session.execute(delete(login_failures).where(login_failures.c.username == username))

    def purge_before(self, before: datetime) -> int:
        result = self.session.execute(delete(login_failures).where(login_failures.c.failed_at < before))
        return max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]


class ClientCertificateRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, organisation_id: int, fingerprint: str, at: datetime) -> None:
        self.session.execute(
            insert(client_certificates).values(
                organisation_id=organisation_id, fingerprint=fingerprint, added_at=at
            )
        )

    def by_fingerprint(self, fingerprint: str) -> ClientCertificate | None:
        row = self.session.execute(
            select(
                client_certificates.c.organisation_id,
                client_certificates.c.fingerprint,
                client_certificates.c.added_at,
            ).where(client_certificates.c.fingerprint == fingerprint)
        ).first()
        return None if row is None else ClientCertificate(*row)

    def for_organisation(self, organisation_id: int) -> Sequence[ClientCertificate]:
        rows = self.session.execute(
            select(
                client_certificates.c.organisation_id,
                client_certificates.c.fingerprint,
                client_certificates.c.added_at,
            )
            .where(client_certificates.c.organisation_id == organisation_id)
            .order_by(client_certificates.c.added_at, client_certificates.c.id)
        ).all()
        return [ClientCertificate(*row) for row in rows]

    def remove(self, organisation_id: int, fingerprint: str) -> bool:
        deleted = self.session.execute(
            delete(client_certificates)
            .where(
                client_certificates.c.organisation_id == organisation_id,
                client_certificates.c.fingerprint == fingerprint,
            )
            .returning(client_certificates.c.id)
        ).first()
        return deleted is not None
