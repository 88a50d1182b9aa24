"""The abstract unit of work and repository ports the use cases depend on."""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from lrs_ws.domain import feed, model
from lrs_ws.domain.mail import OutgoingMail, PendingMail, QueuedMail
from lrs_ws.domain.maintenance import MaintenanceWindow
from lrs_ws.domain.records import ActionCheck, Aim, ClientCertificate, Login, PasswordToken, Purged
from lrs_ws.domain.values import Page

if TYPE_CHECKING:
    from lrs_ws.service.batch_ports import BatchChunkRepository, BatchQueueRepository

ACHIEVEMENT_SORT_KEYS = ("ReferenceNumber", "Type", "Level", "Grade", "AwardDate")


class OrganisationRepository(Protocol):
    def add(self, organisation: model.Organisation) -> None: ...
    def by_ref(self, ref: str) -> model.Organisation | None: ...
    def get(self, organisation_id: int) -> model.Organisation | None: ...
    def refs(self, organisation_ids: Collection[int]) -> dict[int, str]:
        """OrganisationRef by id, in one query."""

    def all(self) -> Sequence[model.Organisation]: ...


class UserRepository(Protocol):
    def add(self, user: model.User) -> None: ...
    def by_username(self, username: str) -> model.User | None: ...
    def get(self, user_id: int) -> model.User | None: ...
    def login(self, username: str) -> Login | None: ...
    def listed(self, organisation_id: int | None) -> Sequence[model.User]:
        """Users by name: one organisation's, or everyone's for None."""

    def with_role(self, organisation_id: int, role: str) -> Sequence[model.User]: ...


class LearnerRepository(Protocol):
    def add(self, learner: model.Learner) -> None: ...
    def by_uln(self, uln: str) -> model.Learner | None: ...
    def by_ulns(self, ulns: Collection[str]) -> dict[str, model.Learner]:
        """The registered learners among `ulns`, by ULN, in one query."""

    def linked_into(self, uln: str) -> Sequence[str]:
        """The ULNs merged into this (master) one."""

    def view(self, uln: str) -> model.LearnerData | None:
        """The register's entry for reading only (not an entity to change)."""


class AimRepository(Protocol):
    def get(self, reference: str) -> Aim | None: ...
    def add(self, aim: Aim) -> None: ...


class AchievementRepository(Protocol):
    def add(self, achievement: model.Achievement) -> None: ...
    def get(self, achievement_id: int, organisation_id: int | None) -> model.Achievement | None:
        """A live (not deleted) achievement; organisation_id None only for LRS-wide reads."""

    def get_any(self, achievement_id: int, organisation_id: int) -> model.Achievement | None:
        """Including deleted ones (their history stays readable to their owner)."""

    def get_any_many(self, keys: Collection[tuple[int, int]]) -> dict[int, model.Achievement]:
        """`get_any` for many (achievement id, organisation id) pairs in one query, by achievement id."""

    def view(self, achievement_id: int, organisation_id: int | None) -> model.AchievementData | None:
        """`get` for reading only: plain data, not an entity to change."""

    def for_learner(
        self, organisation_id: int, uln: str, sort_by: str, descending: bool, page: Page
    ) -> tuple[int, Sequence[model.AchievementData]]:
        """The count of the learner's live achievements (with those of the ULNs merged into it) and one page
        of them, for reading only."""

    def matching(
        self, organisation_id: int, uln: str, reference: str, mis_identifier: str | None
    ) -> Sequence[model.Achievement]: ...


class EdcRepository(Protocol):
    def add(self, edc: model.EventDataChallenge) -> None: ...
    def get(self, edc_id: int, organisation_id: int | None) -> model.EventDataChallenge | None: ...
    def list(
        self, organisation_id: int | None, status: str | None, page: Page
    ) -> tuple[int, Sequence[model.EventDataChallenge]]: ...
    def open_for_achievement(self, achievement_id: int) -> Sequence[model.EventDataChallenge]: ...
    def outstanding(self, organisation_id: int | None) -> Sequence[model.EventDataChallenge]: ...


class AuditRepository(Protocol):
    def add(self, event: model.AuditEvent) -> None: ...
    def for_achievement(self, achievement_id: int) -> Sequence[model.AuditEvent]: ...
    def page_for_achievement(self, achievement_id: int, page: Page) -> tuple[int, Sequence[model.AuditEvent]]:
        """How many events an achievement has, and one page of them, oldest first."""

    def for_edc(self, edc_id: int) -> Sequence[model.AuditEvent]: ...
    def for_user(self, user_id: int) -> Sequence[model.AuditEvent]:
        """The user-management changes made to one user, oldest first."""

    def latest(self, edc_ids: Collection[int], operation: str) -> dict[int, int]:
        """By EDC id, the id of its latest event of `operation` (EDCs without one are left out), one query."""

    def performed(self, checks: Sequence[ActionCheck]) -> set[int]:
        """The EDC ids of the checks an audit event satisfies, in one query that reads for each check only
        the achievement's events after its decision (never its whole trail)."""


class OutboxRepository(Protocol):
    """The e-mail outbox: messages are added in the caller's transaction and delivered later."""

    def add(self, mail: OutgoingMail, now: datetime) -> None: ...
    def claim_due(
        self, now: datetime, *, token: str, lease_until: datetime, limit: int
    ) -> Sequence[QueuedMail]: ...
    def mark_sent(self, message_id: int, token: str, now: datetime) -> bool: ...
    def mark_failed(
        self,
        message_id: int,
        token: str,
        *,
        next_attempt_at: datetime,
        error: str,
        give_up_at: datetime | None,
    ) -> bool: ...
    def release(self, message_id: int, token: str) -> bool: ...
    def requeue_given_up(self, now: datetime) -> int: ...
    def make_due(self, now: datetime) -> int: ...
    def pending(self, limit: int) -> Sequence[PendingMail]: ...
    def counts(self, now: datetime) -> dict[str, int]: ...
    def purge_done(self, before: datetime, after_id: int, limit: int, dry_run: bool) -> Purged:
        """Delete up to `limit` messages (id above `after_id`) sent or given up at or before `before`, with
        their attachments; with `dry_run` only count them."""


class NonceRepository(Protocol):
    """UsernameToken nonces already accepted (replay protection), shared by every process."""

    def remember(self, username: str, digest: str, created: datetime, expires_at: datetime) -> bool:
        """Store a nonce digest; False when this user already used it (a replay)."""

    def purge_expired(self, now: datetime) -> int: ...


class LoginFailureRepository(Protocol):
    """Failed logins by user name and source address (throttling), shared by every process."""

    def reserve(self, username: str, source: str, at: datetime, since: datetime, limit: int) -> bool:
        """Atomically record a failure for the pair unless `limit` are recorded since `since` (then False)."""

    def count_since(self, username: str, source: str, since: datetime) -> int: ...
    def count_user_since(self, username: str, since: datetime) -> int: ...
    def clear(self, username: str, source: str) -> None: ...
    def counts_by_user_since(self, since: datetime) -> dict[str, int]:
        """Per user name, the most failures any one source has in the window (what locks the user out)."""

    def forget_user(self, username: str) -> int:
        """Delete the user name's failures from every source (an operator unlocks it); returns how many."""

    def purge_before(self, before: datetime) -> int: ...


class ClientCertificateRepository(Protocol):
    """Client certificates registered to organisations, by SHA-256 fingerprint."""

    def add(self, organisation_id: int, fingerprint: str, at: datetime) -> None: ...
    def by_fingerprint(self, fingerprint: str) -> ClientCertificate | None: ...
    def for_organisation(self, organisation_id: int) -> Sequence[ClientCertificate]: ...
    def remove(self, organisation_id: int, fingerprint: str) -> bool:
        """Delete the organisation's certificate; False when it has none with this fingerprint."""


class PasswordTokenRepository(Protocol):
    def add(self, user_id: int, digest: str, created_at: datetime, expires_at: datetime) -> None: ...
    def by_digest(self, digest: str) -> PasswordToken | None: ...
    def use(self, token_id: int, now: datetime) -> bool:
        """Mark the token used; False when it already was (another call used it first)."""


class MaintenanceRepository(Protocol):
    def current(self) -> MaintenanceWindow | None:
        """The open maintenance window, if any."""

    def open(self, window: MaintenanceWindow) -> None: ...
    def close(self, now: datetime, by: str) -> bool:
        """End the open window; False when none was open."""


class ChangeFeedRepository(Protocol):
    """The organisations' change feeds (changes are noted by the audit trail and numbered at commit)."""

    def after(self, organisation_id: int, seq: int, limit: int) -> Sequence[feed.Change]:
        """Up to `limit` of the organisation's changes numbered above `seq`, in order."""

    def cursor_key(self) -> bytes:
        """The key the service signs feed cursors with (the same for every process)."""


class AbstractUnitOfWork(abc.ABC):
    """`with uow:` ... `uow.commit()`; leaving the block without commit rolls back."""

    organisations: OrganisationRepository
    users: UserRepository
    learners: LearnerRepository
    aims: AimRepository
    achievements: AchievementRepository
    edcs: EdcRepository
    audit: AuditRepository
    outbox: OutboxRepository
    nonces: NonceRepository
    login_failures: LoginFailureRepository
    client_certificates: ClientCertificateRepository
    batch_queue: BatchQueueRepository
    batch_chunks: BatchChunkRepository
    maintenance: MaintenanceRepository
    changes: ChangeFeedRepository
    password_tokens: PasswordTokenRepository

    @abc.abstractmethod
    def hold(self) -> None:
        """Share one transaction between the `with` blocks that follow, until `release`: a block that ends
        without an error and without writing leaves it open for the next."""

    @abc.abstractmethod
    def release(self) -> None:
        """End a `hold`: roll back what is still open."""

    def __enter__(self) -> AbstractUnitOfWork:
        return self

    def __exit__(self, *args: Any) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def flush(self) -> None:
        """Send pending changes so generated ids are known."""
