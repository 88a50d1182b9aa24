"""Per-request context: request id, the WS-Security token read from the header, and the caller."""

from __future__ import annotations

import functools
import ipaddress
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from lrs_ws.config import Settings
from lrs_ws.domain.errors import AuthenticationFailed
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.observability.requests import Observation, observation_of
from lrs_ws.service.auth import Caller, LoginPolicy, authenticate
from lrs_ws.service.client_certs import certificate_from_request
from lrs_ws.soap.namespaces import WSSE_NS, WSU_NS


@dataclass(frozen=True)
class UsernameToken:
    username: str
    password: str
    nonce: str | None = None
    created: str | None = None


@dataclass
class Deps:
    """What the SOAP methods need from the outside world, wired by create_app."""

    settings: Settings
    uow_factory: Callable[[], AbstractUnitOfWork]
    authenticator: Callable[..., Caller] = authenticate


@dataclass
class RequestContext:
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    token: UsernameToken | None = None
    caller: Caller | None = None
    operation: str = ""
    started: float | None = None
    outcome: str | None = None
    # The HTTP-level Observation (lrs_ws.observability.requests) when the app runs behind the RequestObserver.
    observation: Observation | None = None
    # The call's one unit of work, shared by authentication and the operation (see `request_uow`).
    uow: AbstractUnitOfWork | None = None

    def set_outcome(self, code: str) -> None:
        """Record the ErrorCode answered (for the request's log line and metrics)."""
        self.outcome = code
        if self.observation is not None:
            self.observation.code = code


def read_username_token(header_elements: list[Any] | None) -> UsernameToken | None:
    """The first wsse:Security/wsse:UsernameToken among the SOAP header's children, if any."""
    for header in header_elements or []:
        if not isinstance(header, etree._Element) or header.tag != f"{{{WSSE_NS}}}Security":
            continue
        token = header.find(f"{{{WSSE_NS}}}UsernameToken")
        if token is None:
            continue
        password = token.find(f"{{{WSSE_NS}}}Password")
        ptype = password.get("Type", "") if password is not None else ""
        if ptype and not ptype.endswith("#PasswordText"):
            raise AuthenticationFailed()
        return UsernameToken(
            username=(token.findtext(f"{{{WSSE_NS}}}Username") or "").strip(),
            password=password.text or "" if password is not None else "",
            nonce=token.findtext(f"{{{WSSE_NS}}}Nonce"),
            created=token.findtext(f"{{{WSU_NS}}}Created"),
        )
    return None


def request_context(ctx: Any) -> RequestContext:
    if not isinstance(getattr(ctx, "udc", None), RequestContext):
        environ = getattr(getattr(ctx, "transport", None), "req_env", None)
        obs = observation_of(environ if isinstance(environ, dict) else None)
        # One id per HTTP request: the log line, the X-Request-Id header, faults and audit events share it.
        ctx.udc = RequestContext(request_id=obs.request_id, observation=obs) if obs else RequestContext()
    return ctx.udc  # type: ignore[no-any-return]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(environ: dict[str, Any] | None, trusted_proxies: tuple[str, ...]) -> str:
    """The address a request came from, as failed logins are counted: the TCP peer (REMOTE_ADDR), or, when
    the peer is a trusted proxy, the last X-Forwarded-For hop that is not itself a trusted proxy (hops a
    client wrote itself, further left, are never believed)."""
    environ = environ or {}
    peer = str(environ.get("REMOTE_ADDR") or "")
    return _client_address(peer, str(environ.get("HTTP_X_FORWARDED_FOR") or ""), trusted_proxies)


# Worked out once per (peer, X-Forwarded-For, proxies): the same few values come back on every call.
@functools.lru_cache(maxsize=1024)
def _client_address(remote_addr: str, forwarded_for: str, trusted_proxies: tuple[str, ...]) -> str:
    peer = _address(remote_addr)
    if peer is None:
        return ""
    networks = [ipaddress.ip_network(n) for n in trusted_proxies]

    def trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in networks)

    hops = forwarded_for.split(",")
    while trusted(peer) and hops:
        hop = _address(hops.pop())
        if hop is None:
            break
        peer = hop
    return str(peer)


def deps_of(ctx: Any) -> Deps:
    return ctx.app.deps  # type: ignore[no-any-return]


def request_uow(ctx: Any) -> AbstractUnitOfWork:
    """The call's unit of work: one connection and one transaction for authentication and the operation,
    held until `release_request_uow` (the call's result or fault is then in hand)."""
    rc = request_context(ctx)
    if rc.uow is None:
        rc.uow = deps_of(ctx).uow_factory()
        rc.uow.hold()
    return rc.uow


def release_request_uow(ctx: Any) -> None:
    rc = request_context(ctx)
    if rc.uow is not None:
        uow, rc.uow = rc.uow, None
        uow.release()


def forwarded_certificate(ctx: Any, settings: Settings) -> str | None:
    """The client certificate's fingerprint in the proxy's header, believed only from a trusted proxy."""
    if not settings.client_cert_header:
        return None
    environ = getattr(getattr(ctx, "transport", None), "req_env", None)
    if not isinstance(environ, dict):
        return None
    key = "HTTP_" + settings.client_cert_header.upper().replace("-", "_")
    return certificate_from_request(environ.get(key), environ.get("REMOTE_ADDR"), settings.trusted_proxies)


def source_of(ctx: Any) -> str:
    """The address failed logins from this request are counted against."""
    environ = getattr(getattr(ctx, "transport", None), "req_env", None)
    return client_address(environ, deps_of(ctx).settings.trusted_proxies)


def caller_of(ctx: Any, invoking_user: Any) -> Caller:
    """Authenticate from the body's invokingUser, or else from the WS-Security UsernameToken."""
    rc = request_context(ctx)
    deps = deps_of(ctx)
    source = source_of(ctx)
    certificate = forwarded_certificate(ctx, deps.settings)
    if rc.observation is not None:
        # Logged whether or not the call is accepted: which certificate came with a refused login matters.
        rc.observation.certificate = certificate
    has_body_user = invoking_user is not None and any(
        getattr(invoking_user, f, None) for f in ("UserName", "OrgPassword", "OrganisationRef")
    )
    if has_body_user:
        caller = deps.authenticator(
            request_uow(ctx),
            username=invoking_user.UserName,
            password=invoking_user.OrgPassword,
            organisation_ref=invoking_user.OrganisationRef or "",
            request_id=rc.request_id,
            policy=LoginPolicy.from_settings(deps.settings),
            source=source,
            certificate=certificate,
        )
    elif rc.token is not None:
        caller = deps.authenticator(
            request_uow(ctx),
            username=rc.token.username,
            password=rc.token.password,
            organisation_ref=None,
            request_id=rc.request_id,
            nonce=rc.token.nonce,
            created=rc.token.created,
            policy=LoginPolicy.from_settings(deps.settings),
            source=source,
            certificate=certificate,
        )
    else:
        raise AuthenticationFailed()
    rc.caller = caller
    return caller
