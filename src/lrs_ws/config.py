"""Settings built once from the environment and passed to whatever needs them."""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000/ExternalService.svc"


T = TypeVar("T", int, float)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class SettingError(ValueError):
    """A setting with a value that is not allowed; the message names the variable and what is allowed."""


def _raw(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    return None if raw is None or raw.strip() == "" else raw.strip()


def _number(env: Mapping[str, str], name: str, default: T, kind: type[T], minimum: T) -> T:
    raw = _raw(env, name)
    if raw is None:
        return default
    what = "a whole number" if kind is int else "a number"
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value != value or value in (float("inf"), float("-inf")) or value < minimum:
        raise SettingError(f"{name} must be {what} of at least {minimum}, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    return _number(env, name, default, int, minimum)


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    return _number(env, name, default, float, minimum)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _raw(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingError(f"{name} must be true or false (also 1/0, yes/no, on/off), got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = _raw(env, name)
    if raw is None:
        return default
    if raw.lower() not in allowed:
        raise SettingError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw.lower()


def _http_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _raw(env, name)
    if raw is None:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


def _database_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        make_url(raw)
    except ArgumentError:
        raise SettingError(
            f"{name} must be a SQLAlchemy database URL such as sqlite:///lrs_ws.sqlite3 or "
            "postgresql+psycopg://user:password@host/db"
        ) from None
    return raw


def _networks(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = _raw(env, name)
    if raw is None:
        return default
    networks = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingError(
                f"{name} must list IP addresses or networks (comma-separated), got {item!r}"
            ) from None
    return tuple(networks)


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one running service."""

    database_url: str = field(default_factory=lambda: f"sqlite:///{Path.cwd() / 'lrs_ws.sqlite3'}")
    public_url: str = DEFAULT_PUBLIC_URL
    smtp_url: str = "smtp://127.0.0.1:25"
    mail_from: str = "lrs-business-support@lrs-ws.invalid"
    max_batch_achievements: int = 5000
    max_request_bytes: int = 10 * 1024 * 1024
    max_xml_depth: int = 64
    max_xml_attributes: int = 256
    max_xml_name_length: int = 256
    # A full batch (5,000 achievements of 15 fields) is ~80,000 elements; 100,000 cost spyne ~0.3 s of CPU.
    max_xml_elements: int = 100_000
    default_page_size: int = 50
    max_page_size: int = 500
    run_worker_in_server: bool = True
    worker_poll_seconds: float = 1.0
    worker_chunk_size: int = 1000
    stale_job_seconds: int = 300
    smtp_max_attempts: int = 10
    smtp_retry_base_seconds: float = 2.0
    token_max_age_seconds: int = 300
    token_max_future_seconds: int = 60
    login_failure_limit: int = 5
    login_failure_window_seconds: int = 300
    password_cache_seconds: int = 300
    log_json: bool = True
    # gunicorn (lrs_ws.gunicorn_conf); `lrs-ws serve --workers` overrides gunicorn_workers.
    gunicorn_workers: int = 2
    gunicorn_threads: int = 16
    gunicorn_timeout: int = 30
    gunicorn_graceful_timeout: int = 30
    gunicorn_max_requests: int = 0
    gunicorn_loglevel: str = "info"
    # Finished batch jobs keep their stored records, outcomes and error file this long (counts stay forever).
    retain_batch_days: int = 90
    # Sent or given-up e-mails (and their attachments) are kept this long.
    retain_mail_days: int = 30
    # Records one organisation may have waiting in the batch queue; a submission going past it is refused.
    max_queued_records_per_org: int = 100_000
    # Failed logins of one user name (all sources) in a window that log a warning and count an alert metric.
    login_failure_alert: int = 50
    # Peers whose X-Forwarded-For is believed (addresses or CIDRs): the source a login failure is counted for.
    trusted_proxies: tuple[str, ...] = ()
    # Behind a TLS proxy that checks client certificates: the request header carrying the client certificate
    # (URL-escaped PEM, or a SHA-256 fingerprint) (the peers believed are LRS_WS_TRUSTED_PROXIES).
    client_cert_header: str = ""
    # psycopg prepares a statement run 5 times on one connection; PgBouncer before 1.21 in transaction
    # pooling cannot follow prepared statements across server connections, so turn them off behind it.
    database_prepared_statements: bool = True
    # How long one batch chunk's transaction should last at most: a slower chunk makes the next ones smaller
    # (on SQLite a chunk holds the database's only write lock, which single-record changes wait for).
    worker_chunk_seconds: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from LRS_WS_* environment variables (defaults for anything unset).

        Raises SettingError, naming the variable and what it allows, for any value that is not allowed.
        """
        env = os.environ if env is None else env
        base = cls()
        settings = replace(
            base,
            database_url=_database_url(env, "LRS_WS_DATABASE_URL", base.database_url),
            public_url=_http_url(env, "LRS_WS_PUBLIC_URL", base.public_url),
            smtp_url=env.get("LRS_WS_SMTP_URL") or base.smtp_url,
            mail_from=env.get("LRS_WS_MAIL_FROM") or base.mail_from,
            max_batch_achievements=_int(env, "LRS_WS_MAX_BATCH_ACHIEVEMENTS", base.max_batch_achievements),
            max_request_bytes=_int(env, "LRS_WS_MAX_REQUEST_BYTES", base.max_request_bytes),
            max_xml_depth=_int(env, "LRS_WS_MAX_XML_DEPTH", base.max_xml_depth),
            max_xml_attributes=_int(env, "LRS_WS_MAX_XML_ATTRIBUTES", base.max_xml_attributes),
            max_xml_name_length=_int(env, "LRS_WS_MAX_XML_NAME_LENGTH", base.max_xml_name_length),
            max_xml_elements=_int(env, "LRS_WS_MAX_XML_ELEMENTS", base.max_xml_elements),
            default_page_size=_int(env, "LRS_WS_DEFAULT_PAGE_SIZE", base.default_page_size),
            max_page_size=_int(env, "LRS_WS_MAX_PAGE_SIZE", base.max_page_size),
            run_worker_in_server=_bool(env, "LRS_WS_RUN_WORKER", base.run_worker_in_server),
            worker_chunk_size=_int(env, "LRS_WS_WORKER_CHUNK_SIZE", base.worker_chunk_size),
            worker_poll_seconds=_float(env, "LRS_WS_WORKER_POLL_SECONDS", base.worker_poll_seconds, 0.01),
            stale_job_seconds=_int(env, "LRS_WS_STALE_JOB_SECONDS", base.stale_job_seconds),
            smtp_max_attempts=_int(env, "LRS_WS_SMTP_MAX_ATTEMPTS", base.smtp_max_attempts),
            smtp_retry_base_seconds=_float(
                env, "LRS_WS_SMTP_RETRY_BASE_SECONDS", base.smtp_retry_base_seconds
            ),
            token_max_age_seconds=_int(env, "LRS_WS_TOKEN_MAX_AGE_SECONDS", base.token_max_age_seconds),
            token_max_future_seconds=_int(
                env, "LRS_WS_TOKEN_MAX_FUTURE_SECONDS", base.token_max_future_seconds, 0
            ),
            login_failure_limit=_int(env, "LRS_WS_LOGIN_FAILURE_LIMIT", base.login_failure_limit),
            password_cache_seconds=_int(env, "LRS_WS_PASSWORD_CACHE_SECONDS", base.password_cache_seconds, 0),
            login_failure_window_seconds=_int(
                env, "LRS_WS_LOGIN_FAILURE_WINDOW_SECONDS", base.login_failure_window_seconds
            ),
            log_json=_bool(env, "LRS_WS_LOG_JSON", base.log_json),
            gunicorn_workers=_int(env, "LRS_WS_GUNICORN_WORKERS", base.gunicorn_workers),
            gunicorn_threads=_int(env, "LRS_WS_GUNICORN_THREADS", base.gunicorn_threads),
            gunicorn_timeout=_int(env, "LRS_WS_GUNICORN_TIMEOUT", base.gunicorn_timeout),
            gunicorn_graceful_timeout=_int(
                env, "LRS_WS_GUNICORN_GRACEFUL_TIMEOUT", base.gunicorn_graceful_timeout
            ),
            gunicorn_max_requests=_int(env, "LRS_WS_GUNICORN_MAX_REQUESTS", base.gunicorn_max_requests, 0),
            gunicorn_loglevel=_choice(env, "LRS_WS_GUNICORN_LOGLEVEL", base.gunicorn_loglevel, LOG_LEVELS),
            retain_batch_days=_int(env, "LRS_WS_RETAIN_BATCH_DAYS", base.retain_batch_days, 0),
            retain_mail_days=_int(env, "LRS_WS_RETAIN_MAIL_DAYS", base.retain_mail_days, 0),
            max_queued_records_per_org=_int(
                env, "LRS_WS_MAX_QUEUED_RECORDS_PER_ORG", base.max_queued_records_per_org
            ),
            login_failure_alert=_int(env, "LRS_WS_LOGIN_FAILURE_ALERT", base.login_failure_alert),
            trusted_proxies=_networks(env, "LRS_WS_TRUSTED_PROXIES", base.trusted_proxies),
            client_cert_header=_raw(env, "LRS_WS_CLIENT_CERT_HEADER") or "",
            database_prepared_statements=_bool(
                env, "LRS_WS_DATABASE_PREPARED_STATEMENTS", base.database_prepared_statements
            ),
            worker_chunk_seconds=_float(env, "LRS_WS_WORKER_CHUNK_SECONDS", base.worker_chunk_seconds, 0.01),
        )
        if settings.max_page_size < settings.default_page_size:
            raise SettingError(
                f"LRS_WS_MAX_PAGE_SIZE ({settings.max_page_size}) must be at least "
                f"LRS_WS_DEFAULT_PAGE_SIZE ({settings.default_page_size})"
            )
        return settings

    def with_(self, **changes: object) -> Settings:
        """A copy with some settings changed (tests, CLI flags)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def settings_or_exit(env: Mapping[str, str] | None = None) -> Settings:
    """Settings.from_env for a process starting up: a bad value ends it with one line naming the variable,
    exit status 2 (no traceback)."""
    try:
        return Settings.from_env(env)
    except SettingError as exc:
        print(f"lrs-ws: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
