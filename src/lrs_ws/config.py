"""Settings built once from the environment and passed to whatever needs them."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000/ExternalService.svc"


T = TypeVar("T", int, float)


def _number(env: Mapping[str, str], name: str, default: T, kind: type[T]) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR networks, each checked and written in its normal form."""
    found = []
    for part in (env.get(name) or "").split(","):
        if part.strip():
            try:
                found.append(str(ipaddress.ip_network(part.strip(), strict=False)))
            except ValueError as exc:
                raise ValueError(f"{name} must list addresses or networks, got {part.strip()!r}") from exc
    return tuple(found)


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
    # Behind a TLS proxy that checks client certificates: the request header carrying the client certificate
    # (URL-escaped PEM, or a SHA-256 fingerprint) and the peer addresses whose header is believed.
    client_cert_header: str = ""
    trusted_proxies: tuple[str, ...] = ()
    # psycopg prepares a statement run 5 times on one connection; PgBouncer before 1.21 in transaction
    # pooling cannot follow prepared statements across server connections, so turn them off behind it.
    database_prepared_statements: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from LRS_WS_* environment variables (defaults for anything unset)."""
        env = os.environ if env is None else env
        base = cls()
        return replace(
            base,
            database_url=env.get("LRS_WS_DATABASE_URL") or base.database_url,
            public_url=env.get("LRS_WS_PUBLIC_URL") or base.public_url,
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
            worker_poll_seconds=_float(env, "LRS_WS_WORKER_POLL_SECONDS", base.worker_poll_seconds),
            stale_job_seconds=_int(env, "LRS_WS_STALE_JOB_SECONDS", base.stale_job_seconds),
            smtp_max_attempts=_int(env, "LRS_WS_SMTP_MAX_ATTEMPTS", base.smtp_max_attempts),
            smtp_retry_base_seconds=_float(
                env, "LRS_WS_SMTP_RETRY_BASE_SECONDS", base.smtp_retry_base_seconds
            ),
            token_max_age_seconds=_int(env, "LRS_WS_TOKEN_MAX_AGE_SECONDS", base.token_max_age_seconds),
            token_max_future_seconds=_int(
                env, "LRS_WS_TOKEN_MAX_FUTURE_SECONDS", base.token_max_future_seconds
            ),
            login_failure_limit=_int(env, "LRS_WS_LOGIN_FAILURE_LIMIT", base.login_failure_limit),
            password_cache_seconds=_int(env, "LRS_WS_PASSWORD_CACHE_SECONDS", base.password_cache_seconds),
            login_failure_window_seconds=_int(
                env, "LRS_WS_LOGIN_FAILURE_WINDOW_SECONDS", base.login_failure_window_seconds
            ),
            log_json=_bool(env, "LRS_WS_LOG_JSON", base.log_json),
            client_cert_header=(env.get("LRS_WS_CLIENT_CERT_HEADER") or "").strip(),
            trusted_proxies=_networks(env, "LRS_WS_TRUSTED_PROXIES"),
            database_prepared_statements=_bool(
                env, "LRS_WS_DATABASE_PREPARED_STATEMENTS", base.database_prepared_statements
            ),
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some settings changed (tests, CLI flags)."""
        return replace(self, **changes)  # type: ignore[arg-type]
