"""The SQLAlchemy unit of work: one session, one transaction, rolled back unless committed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar, overload

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

R = TypeVar("R")

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


class _Repository(Generic[R]):
    """A repository on the unit of work's session, made when first asked for (a call uses a few of them).
    It is then kept on the instance, which answers before this descriptor does, until the next session."""

    def __init__(self, make: Callable[[Session], R]) -> None:
        self.make = make

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, uow: None, owner: type) -> _Repository[R]: ...
    @overload
    def __get__(self, uow: SqlAlchemyUnitOfWork, owner: type) -> R: ...
    def __get__(self, uow: SqlAlchemyUnitOfWork | None, owner: type) -> R | _Repository[R]:
        if uow is None:
            return self
        repository = uow.__dict__[self.name] = self.make(uow.session)
        return repository


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    organisations = _Repository(r.OrganisationRepository)
    users = _Repository(r.UserRepository)
    learners = _Repository(r.LearnerRepository)
    aims = _Repository(r.AimRepository)
    achievements = _Repository(r.AchievementRepository)
    edcs = _Repository(r.EdcRepository)
    audit = _Repository(r.AuditRepository)
    outbox = _Repository(OutboxRepository)
    nonces = _Repository(NonceRepository)
    login_failures = _Repository(LoginFailureRepository)
    client_certificates = _Repository(ClientCertificateRepository)
    batch_queue = _Repository(BatchQueueRepository)
    batch_chunks = _Repository(BatchChunkRepository)
    maintenance = _Repository(MaintenanceRepository)
    changes = _Repository(feed.ChangeFeedRepository)
    password_tokens = _Repository(PasswordTokenRepository)

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
                if session.in_transaction() and session.is_active:
                    # Closing the connection rolls its transaction back and tells the pool so: one ROLLBACK.
                    # (The session's own rollback or close ends the transaction first and closes the
                    # connection after, and the pool then resets it with a second one.) A ROLLBACK that fails
                    # leaves the pool to reset the connection itself, or to drop it if that fails too. A
                    # transaction a failed flush left inactive is the session's close's to end.
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
        if "session" in self.__dict__:
            # A new session: the repositories made on the last one go with it.
            for name in _REPOSITORIES:
                self.__dict__.pop(name, None)
        self.session = self.session_factory()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self.session
        try:
            # Detach what was loaded first, so results read in the block stay usable after the rollback.
            if session.identity_map or session.new:
                session.expunge_all()
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
                session.close()
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


_REPOSITORIES = tuple(
    name for name, value in vars(SqlAlchemyUnitOfWork).items() if isinstance(value, _Repository)
)
