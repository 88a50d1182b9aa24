"""The SQLAlchemy unit of work: one session, one transaction, rolled back unless committed."""

from __future__ import annotations

import logging
from types import TracebackType

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from lrs_ws.db import feed
from lrs_ws.db import repositories as r
from lrs_ws.db.batch_chunks import BatchChunkRepository
from lrs_ws.db.batch_queue import BatchQueueRepository
from lrs_ws.db.engine import WROTE
from lrs_ws.db.maintenance_repository import MaintenanceRepository
from lrs_ws.db.outbox import OutboxRepository
from lrs_ws.db.security_repositories import (
    ClientCertificateRepository,
    LoginFailureRepository,
    NonceRepository,
    PasswordTokenRepository,
)
from lrs_ws.domain.errors import ServiceUnavailable, StaleVersion
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.observability.logs import Throttle, database_cause

log = logging.getLogger("lrs_ws.db")
# While the database is down every request meets it: say so every few seconds per process, not per request.
_unavailable = Throttle(10.0)

# SQLite reports a missing schema as an OperationalError too; that is not a passing condition.
_NOT_TRANSIENT = ("no such table", "no such column")


def is_transient(exc: BaseException) -> bool:
    """A dropped or refused connection, a lock wait, a full disk: the same call may succeed later."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return not any(marker in str(exc.orig).lower() for marker in _NOT_TRANSIENT)
    return False


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory
        self._held = False
        self._open = False

    def hold(self) -> None:
        """Keep one session, so one connection and one transaction, across the `with` blocks that follow,
        until `release`: a block that ends without an error and without writing leaves its transaction open
        for the next block instead of rolling it back (a SOAP call: authentication, then the operation)."""
        self._held = True

    def release(self) -> None:
        """End a `hold`: roll back whatever is still open and give the connection back."""
        self._held = False
        if self._open:
            self._open = False
            session = self.session
            try:
                if session.in_transaction():
                    # Closing the connection rolls its transaction back and tells the pool so: one ROLLBACK.
                    # (The session's own rollback or close ends the transaction first and closes the
                    # connection after, and the pool then resets it with a second one.) A ROLLBACK that fails
                    # leaves the pool to reset the connection itself, or to drop it if that fails too.
                    session.connection().close()
            except DBAPIError as failed:
                # The call's answer is in hand and nothing uncommitted is kept either way.
                log.warning("rollback failed", extra={"error": database_cause(failed)})
            finally:
                session.close()

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        if self._open:
            return self
        self._open = True
        self.session = self.session_factory()
        self.organisations = r.OrganisationRepository(self.session)
        self.users = r.UserRepository(self.session)
        self.learners = r.LearnerRepository(self.session)
        self.aims = r.AimRepository(self.session)
        self.achievements = r.AchievementRepository(self.session)
        self.edcs = r.EdcRepository(self.session)
        self.audit = r.AuditRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.nonces = NonceRepository(self.session)
        self.login_failures = LoginFailureRepository(self.session)
        self.client_certificates = ClientCertificateRepository(self.session)
        self.batch_queue = BatchQueueRepository(self.session)
        self.batch_chunks = BatchChunkRepository(self.session)
        self.maintenance = MaintenanceRepository(self.session)
        self.changes = feed.ChangeFeedRepository(self.session)
        self.password_tokens = PasswordTokenRepository(self.session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            # Detach what was loaded first, so results read in the block stay usable after the rollback.
            self.session.expunge_all()
            if not (self._held and exc is None and not self._wrote()):
                super().__exit__(exc_type, exc, tb)
        except DBAPIError as failed:
            # Rolling back on a connection that is already gone fails too: nothing of the block was committed
            # by the rollback anyway, and the block's own error (if any) says more.
            if exc is None and not is_transient(failed):
                raise
        finally:
            if not self._held:
                self._open = False
                self.session.close()
        if exc is not None and is_transient(exc):
            skipped = _unavailable.due()
            if skipped is not None:
                detail = f"{skipped} more since the last such line" if skipped else None
                log.warning("database unavailable", extra={"error": database_cause(exc), "detail": detail})
            raise ServiceUnavailable() from exc

    def _wrote(self) -> bool:
        """Whether the open transaction holds changes: pending objects, a flush or a write statement."""
        session = self.session
        return bool(session.new or session.dirty or session.deleted or session.info.get(WROTE))

    def commit(self) -> None:
        try:
            feed.publish(self.session)
            self.session.commit()
        except StaleDataError as exc:
            # Another writer changed the row between our read and our write (optimistic lock).
            self.rollback()
            raise StaleVersion(None, None) from exc

    def flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError as exc:
            self.rollback()
            raise StaleVersion(None, None) from exc

    def rollback(self) -> None:
        feed.forget(self.session)
        self.session.rollback()
