"""The ports: the abstract unit of work and the repository interfaces the use cases depend on, which the
database layer (lrs_ws.db) implements. Plain Python: the domain and the standard library only."""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from lrs_ws.domain import feed, model
from lrs_ws.domain.batch import (
    KIND_ACHIEVEMENTS,
    BatchCounts,
    BatchJob,
    ChunkContext,
    ChunkKeys,
    FailedRecord,
    NewJob,
    PayloadChunk,
    RecordOutcome,
    VerifyResult,
)
from lrs_ws.domain.mail import OutgoingMail, PendingMail, QueuedMail
from lrs_ws.domain.maintenance import MaintenanceWindow
from lrs_ws.domain.records import ActionCheck, Aim, ClientCertificate, Login, PasswordToken, Purged
from lrs_ws.domain.values import Page

# The orders AchievementRepository.for_learner reads a learner's achievements in.
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


# -- batch jobs: the queue (db/batch_queue.py) and a job's records (db/batch_chunks.py) ---------------------


class BatchQueueRepository(Protocol):
    """The job queue: jobs submitted, listed and cancelled, the worker's claim on a job and its lease."""

    def add_job(self, job: NewJob) -> int: ...
    def set_record_count(self, job_id: int, count: int) -> None: ...
    def get(
        self, job_id: int, organisation_id: int | None, kind: str | None = KIND_ACHIEVEMENTS
    ) -> BatchJob | None:
        """A job of that kind (None: any); organisation_id None only for operators (the CLI)."""

    def list(
        self, organisation_id: int, page: Page, kind: str = KIND_ACHIEVEMENTS
    ) -> tuple[int, Sequence[BatchJob]]: ...
    def leased_jobs(self, now: datetime) -> int:
        """Jobs a live worker holds now (InProgress, lease not run out)."""

    def cancel(self, job_id: int, now: datetime) -> bool:
        """Waiting -> Cancelled; False when the job is not Waiting."""

    def queued_records(self, organisation_id: int) -> int:
        """Records of the organisation's Waiting and InProgress jobs not processed yet; the organisation's
        submissions are counted one at a time until commit."""

    def claim_run(self, name: str, now: datetime, last_before: datetime) -> bool:
        """Record `now` as the periodic task's last run if it last ran at or before `last_before`: True
        for the one caller that should run it."""

    # -- the worker --------------------------------------------------------------------------------------
    def claim(self, worker_id: str, now: datetime, lease_until: datetime) -> BatchJob | None:
        """Take one Waiting job, or an InProgress one whose lease ran out (counted in `attempts`): of the
        organisation whose queued jobs were worked on longest ago, its oldest."""

    def waiting_elsewhere(self, organisation_id: int, now: datetime) -> bool:
        """Whether a job of another organisation could be claimed now."""

    def renew_lease(self, job_id: int, worker_id: str, now: datetime, lease_until: datetime) -> int | None:
        """Extend this worker's lease (and lock the job row until commit) and return the job's cursor (its
        records done: the position of the next record to process); None when the job is not ours."""

    def release(self, job_id: int, worker_id: str, now: datetime) -> None:
        """Give the job back (Waiting) at once, on a graceful stop: the next worker need not wait for the
        lease to run out."""

    def give_back(self, worker_id: str, now: datetime, count_takeover: bool) -> int | None:
        """Make the job held by a worker that is gone Waiting again, adding one take-over to its attempts
        when `count_takeover`; the job's id, or None when the worker held none."""

    def add_counts(self, job_id: int, delta: BatchCounts) -> None: ...
    def finish(
        self,
        job_id: int,
        worker_id: str | None,
        status: str,
        reason: str | None,
        counts: BatchCounts,
        now: datetime,
    ) -> bool: ...


class BatchChunkRepository(Protocol):
    """A job's records: as submitted, read and written chunk by chunk, and the outcomes they leave."""

    def add_payloads(self, job_id: int, chunks: Iterable[PayloadChunk]) -> int:
        """Store a job's records, a chunk per row; returns how many records."""

    def payloads(self, job_id: int, start: int, stop: int) -> Sequence[PayloadChunk]:
        """The stored chunks holding the job's records at positions start..stop-1, in order."""

    def delete_payloads(self, job_id: int) -> None:
        """Delete the job's records as submitted (once it has ended)."""

    def failed_records(self, job_id: int) -> Iterator[FailedRecord]: ...
    def purge_finished(
        self, before: datetime, now: datetime, after_id: int, limit: int, dry_run: bool
    ) -> Purged:
        """Delete the stored records and outcomes of up to `limit` jobs (id above `after_id`) that finished
        at or before `before`, and mark them purged; with `dry_run` only count them."""

    def chunk_context(self, organisation_id: int, keys: ChunkKeys) -> ChunkContext: ...
    def insert_achievements(
        self, achievements: Sequence[model.AchievementData], versions: Sequence[int]
    ) -> None:
        """Insert new achievements in bulk and set their ids."""

    def insert_audit_events(self, events: Sequence[dict[str, Any]]) -> None: ...
    def insert_outcomes(self, job_id: int, outcomes: Sequence[RecordOutcome]) -> None: ...
    def counts_from_records(self, job_id: int) -> BatchCounts: ...
    def insert_verify_results(self, job_id: int, results: Sequence[VerifyResult]) -> None: ...
    def verify_results(self, job_id: int) -> Sequence[VerifyResult]:
        """A verification job's results so far, in line order."""


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
