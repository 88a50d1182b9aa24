"""Repositories for replay protection (used nonces), login throttling (failed logins), client
certificates and one-time password tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, bindparam, delete, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lrs_ws.db.driver_sql import DriverSelect
from lrs_ws.db.tables_security import client_certificates, login_failures, password_tokens, security_nonces
from lrs_ws.domain.records import ClientCertificate, PasswordToken


class NonceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def remember(self, username: str, digest: str, created: datetime, expires_at: datetime) -> bool:
        """Store a nonce; False when it is already stored (a replay).

        The unique constraint decides, so two workers racing with the same nonce cannot both win: on
        PostgreSQL the second insert waits for the first transaction and then does nothing.
        """
        values = {
            "username": username,
            "nonce_digest": digest,
            "token_created": created,
            "expires_at": expires_at,
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


# Read on every call: built once.
_FAILURES_SINCE = DriverSelect(
    select(func.count().label("failures"))
    .select_from(login_failures)
    .where(
        login_failures.c.username == bindparam("username"),
        login_failures.c.source == bindparam("source"),
        login_failures.c.failed_at >= bindparam("since"),
    )
)


class LoginFailureRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _of(self, username: str, source: str, since: datetime) -> Any:
        return (
            select(func.count())
            .select_from(login_failures)
            .where(
                login_failures.c.username == username,
                login_failures.c.source == source,
                login_failures.c.failed_at >= since,
            )
            .scalar_subquery()
        )

    def reserve(self, username: str, source: str, at: datetime, since: datetime, limit: int) -> bool:
        """Record one failed login for (username, source) unless `limit` are recorded since `since`; False
        when the pair is locked.

        Count and insert are one statement, and no two run at once for the same pair: on SQLite the statement
        takes the database's write lock before it counts (it must be the transaction's first), on PostgreSQL
        a transaction-scoped advisory lock on the pair is taken first. So N concurrent wrong passwords
        record exactly `limit` failures, and only that many passwords are ever checked.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            key = f"{source} {username}"
            self.session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
        stmt = (
            insert(login_failures)
            .from_select(
                ["username", "source", "failed_at"],
                select(literal(username), literal(source), literal(at, DateTime())).where(
                    self._of(username, source, since) < limit
                ),
            )
            .returning(login_failures.c.id)
        )
        return self.session.execute(stmt).first() is not None

    def count_since(self, username: str, source: str, since: datetime) -> int:
        params = {"username": username, "source": source, "since": since}
        return int(_FAILURES_SINCE.all(self.session, params)[0].failures)

    def count_user_since(self, username: str, since: datetime) -> int:
        """Failures of a user name from every source."""
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(login_failures)
                .where(login_failures.c.username == username, login_failures.c.failed_at >= since)
            )
            or 0
        )

    def clear(self, username: str, source: str) -> None:
        self.session.execute(
            delete(login_failures).where(
                login_failures.c.username == username, login_failures.c.source == source
            )
        )

    def counts_by_user_since(self, since: datetime) -> dict[str, int]:
        per_source = (
            select(login_failures.c.username, func.count().label("failures"))
            .where(login_failures.c.failed_at >= since)
            .group_by(login_failures.c.username, login_failures.c.source)
            .subquery()
        )
        rows = self.session.execute(
            select(per_source.c.username, func.max(per_source.c.failures)).group_by(per_source.c.username)
        ).all()
        return {username: int(count) for username, count in rows}

    def forget_user(self, username: str) -> int:
        """Delete every failure counted against the user name, whatever else it was counted for."""
        result = self.session.execute(delete(login_failures).where(login_failures.c.username == username))
        return max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]

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


class PasswordTokenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, user_id: int, digest: str, created_at: datetime, expires_at: datetime) -> None:
        self.session.execute(
            insert(password_tokens).values(
                user_id=user_id, token_digest=digest, created_at=created_at, expires_at=expires_at
            )
        )

    def by_digest(self, digest: str) -> PasswordToken | None:
        row = self.session.execute(
            select(
                password_tokens.c.id,
                password_tokens.c.user_id,
                password_tokens.c.expires_at,
                password_tokens.c.used_at,
            ).where(password_tokens.c.token_digest == digest)
        ).first()
        return None if row is None else PasswordToken(*row)

    def use(self, token_id: int, now: datetime) -> bool:
        # One conditional update: of two calls racing with the same token, only one finds it unused.
        used = self.session.execute(
            update(password_tokens)
            .where(password_tokens.c.id == token_id, password_tokens.c.used_at.is_(None))
            .values(used_at=now)
            .returning(password_tokens.c.id)
        ).first()
        return used is not None
