"""User management by an organisation's own AO_ADMIN (the LRS Organisation Portal's "User Management"), and
the one-time token with which a user it added sets its first password.

Every lookup is confined to the caller's organisation: another organisation's user answers exactly like one
that does not exist. Every change is audited in its own transaction, naming the user it was made to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.mail import OutgoingMail
from lrs_ws.domain.passwords import (
    TOKEN_VALID_FOR,
    new_password_hash,
    new_token,
    token_digest,
    unusable_password_hash,
)
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service import audit
from lrs_ws.service.auth import USERNAME_MAX, Caller, LoginPolicy

OP_USERS = "managing your organisation's users"
# Failed SetPassword calls are throttled per source address under this key of the login failures. No user
# name begins with a blank (every path strips them), so the key is no user's.
TOKEN_THROTTLE_KEY = " SetPassword"
TOKEN_MAX = 100


@dataclass(frozen=True)
class UserView:
    """A user as its organisation's AO_ADMIN sees it: nothing secret."""

    username: str
    email: str
    roles: tuple[str, ...]
    active: bool
    locked_out: bool


@dataclass(frozen=True)
class UserPage:
    total: int
    items: Sequence[UserView]


@dataclass(frozen=True)
class UserHistory:
    username: str
    events: Sequence[model.AuditEvent]


def _snapshot(user: model.User) -> dict[str, Any]:
    return {"User": user.username, "Email": user.email, "Roles": user.roles, "Active": user.active}


def _view(user: model.User, failures: int, policy: LoginPolicy) -> UserView:
    return UserView(
        user.username, user.email, tuple(sorted(user.role_set)), user.active, policy.locks_out(failures)
    )


def _failures(uow: AbstractUnitOfWork, policy: LoginPolicy) -> dict[str, int]:
    return uow.login_failures.counts_by_user_since(policy.window_start(utcnow()))


def _member(uow: AbstractUnitOfWork, caller: Caller, username: str | None) -> model.User:
    """A user of the caller's organisation, or NotFound: one of another organisation is not told apart."""
    name = (username or "").strip()[:USERNAME_MAX]
    user = uow.users.by_username(name) if name else None
    if user is None or user.organisation_id != caller.organisation_id:
        raise e.NotFound("user", name)
    return user


def _other_active_admins(uow: AbstractUnitOfWork, user: model.User) -> int:
    return sum(1 for u in uow.users.with_role(user.organisation_id, model.ROLE_AO_ADMIN) if u.id != user.id)


def list_users(
    uow: AbstractUnitOfWork, *, caller: Caller, page: values.Page, policy: LoginPolicy
) -> UserPage:
    """The caller organisation's users by name, paged, with whether failed logins lock them out now."""
    caller.require(model.ROLE_AO_ADMIN, OP_USERS)
    with uow:
        users = uow.users.listed(caller.organisation_id)
        failures = _failures(uow, policy)
        shown = users[page.offset : page.offset + page.size]
        return UserPage(len(users), [_view(u, failures.get(u.username, 0), policy) for u in shown])


def _welcome(
    user: model.User, organisation: model.Organisation, token: str, expires: datetime
) -> OutgoingMail:
    lines = [
        f"An administrator of {organisation.name} ({organisation.ref}) has given you an account on the LRS "
        "web service.",
        "",
        f"User name:     {user.username}",
        f"Organisation:  {organisation.ref}",
        f"Roles:         {', '.join(sorted(user.role_set))}",
        "",
        "Set your password with the SetPassword operation and this one-time token:",
        "",
        f"    {token}",
        "",
        f"The token can be used once, until {expires:%Y-%m-%d %H:%M} UTC. The password must be at least 12",
        "characters long, not your user name and not a common password. Until it is set the account",
        "cannot log in. If you did not expect this message, tell your organisation's administrator.",
    ]
    return OutgoingMail(
        recipient=user.email,
        subject=f"Your LRS web service account {user.username} ({organisation.ref})",
        body="\n".join(lines) + "\n",
    )


def add_user(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    username: str | None,
    email: str | None,
    roles: Iterable[str],
    policy: LoginPolicy,
) -> UserView:
    """Add a user to the caller's organisation. It has no password it could log in with: a one-time token,
    valid for TOKEN_VALID_FOR, is e-mailed to it (through the outbox, in this transaction) to set one."""
    caller.require(model.ROLE_AO_ADMIN, OP_USERS)
    name = values.check_text("userName", username, USERNAME_MAX, required=True)
    address = values.check_email(email)
    chosen = model.check_roles(model.check_ao_roles(roles))
    token, digest = new_token()
    now = utcnow()
    with uow:
        if uow.users.by_username(name) is not None:
            # User names are unique across the service (a login names no organisation), so this is said.
            raise e.InvalidValue("userName", f"The user name {name} is already taken; choose another.")
        organisation = uow.organisations.get(caller.organisation_id)
        assert organisation is not None
        user = model.User(
            organisation_id=caller.organisation_id,
            username=name,
            password_hash=unusable_password_hash(),
            email=address,
            roles=chosen,
        )
        uow.users.add(user)
        uow.flush()
        assert user.id is not None
        expires = now + TOKEN_VALID_FOR
        uow.password_tokens.add(user.id, digest, now, expires)
        uow.outbox.add(_welcome(user, organisation, token, expires), now)
        audit.record(
            uow,
            caller,
            "AddUser",
            now,
            subject_user_id=user.id,
            after={**_snapshot(user), "PasswordTokenExpires": expires.isoformat()},
        )
        uow.commit()
        return _view(user, 0, policy)


def set_user_roles(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    username: str | None,
    roles: Iterable[str],
    policy: LoginPolicy,
) -> UserView:
    """Replace the AO roles of one of the organisation's users (nominate or un-nominate EDC users, ...).
    Roles an AO_ADMIN cannot give (LRS_SUPPORT) are kept as they are."""
    caller.require(model.ROLE_AO_ADMIN, OP_USERS)
    wanted = model.check_ao_roles(roles)
    with uow:
        user = _member(uow, caller, username)
        new_roles = model.check_roles(wanted | (user.role_set - set(model.AO_ASSIGNABLE_ROLES)))
        failures = _failures(uow, policy).get(user.username, 0)
        if new_roles == user.roles:
            return _view(user, failures, policy)
        model.check_admin_remains(
            acting_on_self=user.id == caller.user_id,
            stays_admin=model.ROLE_AO_ADMIN in wanted,
            other_active_admins=_other_active_admins(uow, user),
        )
        before = _snapshot(user)
        user.roles = new_roles
        audit.record(
            uow,
            caller,
            "SetUserRoles",
            utcnow(),
            subject_user_id=user.id,
            before=before,
            after=_snapshot(user),
        )
        uow.commit()
        return _view(user, failures, policy)


def set_user_active(
    uow: AbstractUnitOfWork, *, caller: Caller, username: str | None, active: bool, policy: LoginPolicy
) -> UserView:
    """Deactivate a user of the organisation (refused at login from then on, like a wrong password) or
    reactivate one."""
    caller.require(model.ROLE_AO_ADMIN, OP_USERS)
    with uow:
        user = _member(uow, caller, username)
        if not active and user.has_role(model.ROLE_AO_ADMIN):
            model.check_admin_remains(
                acting_on_self=user.id == caller.user_id,
                stays_admin=False,
                other_active_admins=_other_active_admins(uow, user),
            )
        before = _snapshot(user)
        user.set_active(active)
        audit.record(
            uow,
            caller,
            "ReactivateUser" if active else "DeactivateUser",
            utcnow(),
            subject_user_id=user.id,
            before=before,
            after=_snapshot(user),
        )
        uow.commit()
        return _view(user, _failures(uow, policy).get(user.username, 0), policy)


def unlock_user(
    uow: AbstractUnitOfWork, *, caller: Caller, username: str | None, policy: LoginPolicy
) -> UserView:
    """End a login lock-out now: forget every failed login counted against the user's name (a user with
    none is left as it is, and nothing is audited)."""
    caller.require(model.ROLE_AO_ADMIN, OP_USERS)
    with uow:
        user = _member(uow, caller, username)
        failures = _failures(uow, policy).get(user.username, 0)
        cleared = uow.login_failures.forget_user(user.username)
        if cleared:
            audit.record(
                uow,
                caller,
                "UnlockUser",
                utcnow(),
                subject_user_id=user.id,
                before={
                    "User": user.username,
                    "FailedLogins": cleared,
                    "LockedOut": policy.locks_out(failures),
                },
                after={"User": user.username, "FailedLogins": 0, "LockedOut": False},
            )
            uow.commit()
        return _view(user, 0, policy)


def user_history(uow: AbstractUnitOfWork, *, caller: Caller, username: str | None) -> UserHistory:
    """Every audited change made to one of the organisation's users (by its AO_ADMINs, by operators, and
    the user's own SetPassword), oldest first."""
    caller.require(model.ROLE_AO_ADMIN, OP_USERS)
    with uow:
        user = _member(uow, caller, username)
        assert user.id is not None
        return UserHistory(user.username, uow.audit.for_user(user.id))


def set_password(
    uow: AbstractUnitOfWork,
    *,
    token: str | None,
    new_password: str | None,
    source: str,
    policy: LoginPolicy,
    request_id: str = "",
) -> str:
    """Set a user's first password with the one-time token e-mailed to it; returns the user name.

    The token is the credential: an unknown, used or expired one, one of a deactivated user or organisation,
    and any call from a source address with too many failed tries in the login window are all answered with
    InvalidPasswordToken. A failed try is counted like a failed login. A password that breaks the rules is
    refused without using the token up, so the user can try another.
    """
    now = utcnow()
    window_start = policy.window_start(now)
    throttled = policy.failure_limit > 0
    where = source[:64]
    text = (token or "").strip()
    with uow:
        if throttled and uow.login_failures.count_since(TOKEN_THROTTLE_KEY, where, window_start) >= (
            policy.failure_limit
        ):
            raise e.InvalidPasswordToken()
        found = uow.password_tokens.by_digest(token_digest(text)) if 0 < len(text) <= TOKEN_MAX else None
        user = organisation = None
        if found is not None and found.used_at is None and found.expires_at > now:
            user = uow.users.get(found.user_id)
            organisation = uow.organisations.get(user.organisation_id) if user is not None else None
        if found is None or user is None or organisation is None or not (user.active and organisation.active):
            if throttled:
                uow.login_failures.reserve(TOKEN_THROTTLE_KEY, where, now, window_start, policy.failure_limit)
                uow.commit()
            raise e.InvalidPasswordToken()
        user.password_hash = new_password_hash(new_password or "", user.username)
        if not uow.password_tokens.use(found.id, now):
            raise e.InvalidPasswordToken()
        audit.record(
            uow,
            Caller.of(user, organisation, request_id),
            "SetPassword",
            now,
            subject_user_id=user.id,
            after={"User": user.username, "PasswordSet": True},
        )
        uow.commit()
        return user.username
