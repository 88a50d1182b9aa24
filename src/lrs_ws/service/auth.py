"""Who is calling: authentication and role checks."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from lrs_ws.domain import model
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.errors import AccessDenied, AuthenticationFailed, ServiceUnavailable, TooManyAttempts
from lrs_ws.domain.passwords import verify_password
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.records import Login
from lrs_ws.observability import metrics

log = logging.getLogger("lrs_ws.auth")

USERNAME_MAX = 100
SOURCE_MAX = 64
NONCE_MAX = 256
CREATED_MAX = 64


@dataclass(frozen=True)
class Caller:
    """An authenticated user, as the use cases see it."""

    user_id: int
    username: str
    organisation_id: int
    organisation_ref: str
    roles: frozenset[str]
    email: str = ""
    request_id: str = field(default="", compare=False)
    # SHA-256 fingerprint of the client certificate the call came with ("" when none is required).
    certificate: str = field(default="", compare=False)

    def has(self, role: str) -> bool:
        return role in self.roles

    def require(self, role: str, operation: str) -> None:
        if role not in self.roles:
            raise AccessDenied(operation)

    def require_any(self, roles: tuple[str, ...], operation: str) -> None:
        if not self.roles.intersection(roles):
            raise AccessDenied(operation)

    @property
    def is_lrs_support(self) -> bool:
        return model.ROLE_LRS_SUPPORT in self.roles

    @classmethod
    def of_login(cls, login: Login, request_id: str) -> Caller:
        """The Caller a user that logged in acts as."""
        return cls(
            user_id=login.user_id,
            username=login.username,
            organisation_id=login.organisation_id,
            organisation_ref=login.organisation_ref,
            roles=model.role_set(login.roles),
            email=login.email,
            request_id=request_id,
        )

    @classmethod
    def of(cls, user: model.User, organisation: model.Organisation, request_id: str) -> Caller:
        """The Caller a stored user of `organisation` acts as."""
        assert user.id is not None and organisation.id is not None
        return cls(
            user_id=user.id,
            username=user.username,
            organisation_id=organisation.id,
            organisation_ref=organisation.ref,
            roles=user.role_set,
            email=user.email,
            request_id=request_id,
        )


@dataclass(frozen=True)
class LoginPolicy:
    """Replay and throttling limits (from Settings: token_max_age_seconds, login_failure_limit, ...)."""

    token_max_age_seconds: int = 300
    token_max_future_seconds: int = 60
    failure_limit: int = 5
    failure_window_seconds: int = 300
    verified_cache_seconds: int = 300
    alert_threshold: int = 50

    def window_start(self, now: datetime) -> datetime:
        """Failures older than this no longer count."""
        return now - timedelta(seconds=self.failure_window_seconds)

    def locks_out(self, failures: int) -> bool:
        """A user name with this many failures in the window is refused without a password check."""
        return self.failure_limit > 0 and failures >= self.failure_limit

    # Set when the service runs behind the certificate-checking proxy (Settings.client_cert_header).
    require_client_certificate: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> LoginPolicy:
        return cls(
            token_max_age_seconds=settings.token_max_age_seconds,
            token_max_future_seconds=settings.token_max_future_seconds,
            failure_limit=settings.login_failure_limit,
            failure_window_seconds=settings.login_failure_window_seconds,
            verified_cache_seconds=settings.password_cache_seconds,
            alert_threshold=settings.login_failure_alert,
            require_client_certificate=bool(settings.client_cert_header),
        )


class RecentlyVerified:
    """Password checks that succeeded lately, so a caller that sends its password with every request (as
    the LRS contract has it) pays for the deliberately slow scrypt check once per `ttl`, not on every call.

    Entries are HMACs, under a random per-process key, of user name, password and stored hash: no password
    is kept, and changing a password (a new stored hash) misses at once. Only successes are remembered, so
    wrong passwords and unknown users still cost a full hash check each.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._key = os.urandom(32)
        self._capacity = capacity
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, username: str, password: str, stored_hash: str) -> bytes:
        message = "\0".join((username, password, stored_hash)).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def check(self, username: str, password: str, stored_hash: str, ttl: float) -> bool:
        """True when this exact check succeeded less than `ttl` seconds ago."""
        if ttl <= 0:
            return False
        entry = self._entry(username, password, stored_hash)
        with self._lock:
            verified_at = self._entries.get(entry)
            if verified_at is None:
                return False
            if time.monotonic() - verified_at > ttl:
                del self._entries[entry]
                return False
            return True

    def remember(self, username: str, password: str, stored_hash: str, ttl: float) -> None:
        if ttl <= 0:
            return
        entry = self._entry(username, password, stored_hash)
        with self._lock:
            self._entries[entry] = time.monotonic()
            self._entries.move_to_end(entry)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


recently_verified = RecentlyVerified()


@dataclass(frozen=True)
class _FreshToken:
    digest: str | None
    created: datetime
    expires_at: datetime


def _parse_created(created: str) -> datetime:
    """wsu:Created (xs:dateTime, normally UTC with a Z) as naive UTC; AuthenticationFailed if unreadable."""
    text = created.strip()
    if not text or len(text) > CREATED_MAX:
        raise AuthenticationFailed()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise AuthenticationFailed() from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def _check_token_freshness(
    nonce: str | None, created: str | None, now: datetime, policy: LoginPolicy
) -> _FreshToken | None:
    """Refuse a stale or future Created, and a Nonce without Created (its replay window would be endless)."""
    if nonce is None and created is None:
        return None
    if created is None:
        raise AuthenticationFailed()
    when = _parse_created(created)
    if now - when > timedelta(seconds=policy.token_max_age_seconds):
        raise AuthenticationFailed()
    if when - now > timedelta(seconds=policy.token_max_future_seconds):
        raise AuthenticationFailed()
    digest = None
    if nonce is not None:
        raw = nonce.strip()
        if not raw or len(raw) > NONCE_MAX:
            raise AuthenticationFailed()
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    # Kept until a token with this Created can no longer be fresh (a future Created counts from now).
    expires_at = max(when, now) + timedelta(seconds=policy.token_max_age_seconds + 1)
    return _FreshToken(digest, when, expires_at)


def authenticate(
    uow: AbstractUnitOfWork,
    *,
    username: str | None,
    password: str | None,
    organisation_ref: str | None,
    request_id: str = "",
    nonce: str | None = None,
    created: str | None = None,
    policy: LoginPolicy | None = None,
    source: str = "",
    certificate: str | None = None,
) -> Caller:
    """The caller, or AuthenticationFailed with one message whatever the cause.

    `organisation_ref` None means the credentials came in a UsernameToken, which names no organisation
    (usernames are unique across the service). A token carrying `nonce`/`created` is refused when the nonce
    was used before or `created` is outside the freshness window.

    Throttling is per (user name, `source` address): a pair with `failure_limit` failures in the window is
    refused (TooManyAttempts, the same message) without checking the password at all. Each password check
    first reserves a failure for its pair, atomically, and a success takes it back: however many requests
    race, no more than `failure_limit` passwords are ever checked for a pair in a window. A user name with
    `alert_threshold` failures from all sources is not locked (a stranger could lock anyone out) but each
    further failure logs a warning and counts an alert.

    When the policy requires a client certificate, `certificate` (the SHA-256 fingerprint the proxy
    vouched for) must be registered to the caller's organisation; it is looked up on every call, never
    cached, so a removed certificate is refused on the next one.
    """
    policy = policy or LoginPolicy()
    now = utcnow()
    name = (username or "").strip()[:USERNAME_MAX]
    where = source[:SOURCE_MAX]
    fresh = _check_token_freshness(nonce, created, now, policy)
    window_start = policy.window_start(now)
    throttled = bool(name) and policy.failure_limit > 0
    ttl = policy.verified_cache_seconds
    with uow:
        prior = uow.login_failures.count_since(name, where, window_start) if throttled else 0
        if throttled and prior >= policy.failure_limit:
            raise TooManyAttempts()
        login = uow.users.login(name) if name else None
        stored_hash = login.password_hash if login is not None else None
    reserved = False
    if stored_hash is not None and recently_verified.check(name, password or "", stored_hash, ttl):
        password_ok = True
    else:
        # The check takes time: the user is read again after it.
        login = None
        if throttled:
            try:
                reserved = _reserve(uow, name, where, now, window_start, policy)
            except ServiceUnavailable:
                # The database cannot be written (a full disk): the pair's lock-out, read above, still holds;
                # this one check goes unreserved rather than refusing every caller not in the password cache.
                log.warning("login failure not reserved: database not writable", extra={"user": name})
        # Always pay for one hash check so unknown users cost the same as wrong passwords.
        password_ok = verify_password(password or "", stored_hash)
        if password_ok and stored_hash is not None:
            recently_verified.remember(name, password or "", stored_hash, ttl)
    with uow:
        caller = _caller_if_allowed(uow, name, password_ok, organisation_ref, request_id, login)
        if caller is not None and policy.require_client_certificate:
            caller = _with_certificate(uow, caller, certificate)
        if caller is None:
            if throttled:
                _failed(uow, name, where, now, window_start, policy, reserved)
            raise AuthenticationFailed()
        replayed = False
        has_nonce = fresh is not None and fresh.digest is not None
        if fresh is not None and fresh.digest is not None:
            uow.nonces.purge_expired(now)
            replayed = not uow.nonces.remember(caller.username, fresh.digest, fresh.created, fresh.expires_at)
        if reserved or prior:
            # The password was right (a replay is not a failure): the pair's failures and reservation go.
            uow.login_failures.clear(name, where)
        if has_nonce or reserved or prior:
            uow.commit()
        if replayed:
            raise AuthenticationFailed()
        return caller


def _with_certificate(uow: AbstractUnitOfWork, caller: Caller, certificate: str | None) -> Caller | None:
    """The caller, noting its certificate, when that certificate is registered to its organisation."""
    if not certificate:
        return None
    registered = uow.client_certificates.by_fingerprint(certificate)
    if registered is None or registered.organisation_id != caller.organisation_id:
        return None
    return replace(caller, certificate=certificate)


def _reserve(
    uow: AbstractUnitOfWork,
    name: str,
    source: str,
    now: datetime,
    window_start: datetime,
    policy: LoginPolicy,
) -> bool:
    """Reserve a failure for the pair before its password is checked (committed at once, so concurrent
    requests see it); TooManyAttempts when the pair is locked."""
    with uow:
        reserved = uow.login_failures.reserve(name, source, now, window_start, policy.failure_limit)
        uow.commit()
    if not reserved:
        raise TooManyAttempts()
    return True


def _failed(
    uow: AbstractUnitOfWork,
    name: str,
    source: str,
    now: datetime,
    window_start: datetime,
    policy: LoginPolicy,
    reserved: bool,
) -> None:
    """Keep the failure (reserved before the check, or recorded now) and alert on a user name that fails
    too often from everywhere. Unknown user names are counted too: throttling must not tell which exist."""
    uow.login_failures.purge_before(window_start)
    if not reserved:
        uow.login_failures.reserve(name, source, now, window_start, policy.failure_limit)
    uow.commit()
    if policy.alert_threshold <= 0:
        return
    failures = uow.login_failures.count_user_since(name, window_start)
    if failures >= policy.alert_threshold:
        metrics.LOGIN_FAILURE_ALERTS.labels(kind="user_name").inc()
        if failures % policy.alert_threshold == 0:
            log.warning(
                "many failed logins for one user name",
                extra={"user": name, "detail": f"{failures} failures in {policy.failure_window_seconds} s"},
            )


def _caller_if_allowed(
    uow: AbstractUnitOfWork,
    name: str,
    password_ok: bool,
    organisation_ref: str | None,
    request_id: str,
    login: Login | None,
) -> Caller | None:
    """The Caller when the password was right and the user may log in, else None. `login` is the user as
    read in this transaction just before a remembered check; None reads it again (after a slow one)."""
    if not (name and password_ok):
        return None
    login = login or uow.users.login(name)
    if login is None or not login.active or not login.organisation_active:
        return None
    if organisation_ref is not None and organisation_ref.strip().upper() != login.organisation_ref:
        return None
    return Caller.of_login(login, request_id)
