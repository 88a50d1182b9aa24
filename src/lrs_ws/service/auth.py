"""Who is calling: authentication and role checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from lrs_ws.domain import model
from lrs_ws.domain.errors import AccessDenied, AuthenticationFailed
from lrs_ws.domain.passwords import verify_password
from lrs_ws.service.uow import AbstractUnitOfWork


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


def authenticate(
    uow: AbstractUnitOfWork,
    *,
    username: str | None,
    password: str | None,
    organisation_ref: str | None,
    request_id: str = "",
    nonce: str | None = None,
    created: str | None = None,
) -> Caller:
    """The caller, or AuthenticationFailed with one message whatever the cause.

    `organisation_ref` None means the credentials came in a UsernameToken, which names no organisation
    (usernames are unique across the service).
    """
    with uow:
        user = uow.users.by_username((username or "").strip()) if username else None
        # Always pay for one hash check so unknown users cost the same as wrong passwords.
        password_ok = verify_password(password or "", user.password_hash if user else None)
        if user is None or not password_ok or not user.active:
            raise AuthenticationFailed()
        organisation = uow.organisations.get(user.organisation_id)
        if organisation is None:
            raise AuthenticationFailed()
        if organisation_ref is not None and organisation_ref.strip().upper() != organisation.ref:
            raise AuthenticationFailed()
        assert user.id is not None and organisation.id is not None
        return Caller(
            user_id=user.id,
            username=user.username,
            organisation_id=organisation.id,
            organisation_ref=organisation.ref,
            roles=user.role_set,
            email=user.email,
            request_id=request_id,
        )
