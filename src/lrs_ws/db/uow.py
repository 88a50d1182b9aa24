"""The SQLAlchemy unit of work: one session, one transaction, rolled back unless committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from lrs_ws.db import repositories as r
from lrs_ws.db.batch_repository import BatchRepository
from lrs_ws.db.outbox import OutboxRepository
from lrs_ws.db.security_repositories import LoginFailureRepository, NonceRepository
from lrs_ws.domain.errors import StaleVersion
from lrs_ws.service.uow import AbstractUnitOfWork


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def __enter__(self) -> SqlAlchemyUnitOfWork:
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
        self.batches = BatchRepository(self.session)
        return self

    def __exit__(self, *args: Any) -> None:
        # Detach what was loaded first, so results read in the block stay usable after the rollback.
        self.session.expunge_all()
        super().__exit__(*args)
        self.session.close()

    def commit(self) -> None:
        try:
            self.session.commit()
        except StaleDataError as exc:
            # Another writer changed the row between our read and our write (optimistic lock).
            self.session.rollback()
            raise StaleVersion(None, None) from exc

    def flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError as exc:
            self.session.rollback()
            raise StaleVersion(None, None) from exc

    def rollback(self) -> None:
        self.session.rollback()
