"""An operator's day-to-day care of users and organisations (`lrs-ws user ...`, `lrs-ws org ...`).

The command line runs on the server with direct database access, so it is trusted: it names users and
organisations plainly. Every change is audited, in its own transaction, under the operator's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.passwords import new_password_hash
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service import audit
from lrs_ws.service.auth import LoginPolicy


@dataclass(frozen=True)
class UserRow:
    username: str
    organisation_ref: str
    roles: str
    active: bool
    locked_out: bool


@dataclass(frozen=True)
class OrganisationRow:
    ref: str
    name: str
    ukprn: str
    batch_enabled: bool
    active: bool
    users: int


@dataclass(frozen=True)
class Change:
    """What a command did: `changed` False when the user or organisation already was as asked."""

    subject: str
    changed: bool


def _organisation(uow: AbstractUnitOfWork, ref: str) -> model.Organisation:
    clean = values.check_org_ref(ref)
    organisation = uow.organisations.by_ref(clean)
    if organisation is None:
        raise e.UnknownOrganisation(clean)
    return organisation


def _user(uow: AbstractUnitOfWork, username: str) -> tuple[model.User, model.Organisation]:
    name = (username or "").strip()[:100]
    user = uow.users.by_username(name) if name else None
    organisation = uow.organisations.get(user.organisation_id) if user is not None else None
    if user is None or organisation is None:
        raise e.UnknownUser(name)
    return user, organisation


def list_users(
    uow: AbstractUnitOfWork, *, organisation_ref: str | None, policy: LoginPolicy
) -> list[UserRow]:
    """Every user (or one organisation's), by name, with whether failed logins lock them out now."""
    with uow:
        only = _organisation(uow, organisation_ref).id if organisation_ref is not None else None
        refs = {o.id: o.ref for o in uow.organisations.all()}
        failures = uow.login_failures.counts_by_user_since(policy.window_start(utcnow()))
        return [
            UserRow(
                u.username,
                refs.get(u.organisation_id, "?"),
                u.roles.replace(",", ", "),
                u.active,
                policy.locks_out(failures.get(u.username, 0)),
            )
            for u in uow.users.listed(only)
        ]


def unlock_user(uow: AbstractUnitOfWork, *, operator: str, username: str) -> Change:
    """Forget the user's failed logins, so the lock-out ends now instead of when the window has passed."""
    with uow:
        user, organisation = _user(uow, username)
        cleared = uow.login_failures.forget_user(user.username)
        audit.record_operator(
            uow,
            operator,
            "user unlock",
            utcnow(),
            organisation_id=organisation.id,
            subject_user_id=user.id,
            before={"User": user.username, "FailedLogins": cleared},
            after={"User": user.username},
        )
        uow.commit()
        return Change(user.username, cleared > 0)


def reset_password(uow: AbstractUnitOfWork, *, operator: str, username: str, password: str) -> Change:
    """Give the user a new password (the same rules and hashing as a new user's)."""
    password_hash = new_password_hash(password, username)
    with uow:
        user, organisation = _user(uow, username)
        user.password_hash = password_hash
        # The audit says that the password changed, never what it is or was.
        audit.record_operator(
            uow,
            operator,
            "user reset-password",
            utcnow(),
            organisation_id=organisation.id,
            subject_user_id=user.id,
            after={"User": user.username},
        )
        uow.commit()
        return Change(user.username, True)


def set_user_active(uow: AbstractUnitOfWork, *, operator: str, username: str, active: bool) -> Change:
    """Deactivate a user (refused at login from then on) or activate one again."""
    with uow:
        user, organisation = _user(uow, username)
        if user.active == active:
            return Change(user.username, False)
        before = {"User": user.username, "Active": user.active}
        user.active = active
        audit.record_operator(
            uow,
            operator,
            "user activate" if active else "user deactivate",
            utcnow(),
            organisation_id=organisation.id,
            subject_user_id=user.id,
            before=before,
            after={"User": user.username, "Active": active},
        )
        uow.commit()
        return Change(user.username, True)


def set_user_roles(uow: AbstractUnitOfWork, *, operator: str, username: str, roles: Iterable[str]) -> Change:
    """Replace the user's roles."""
    clean = model.check_roles(roles)
    with uow:
        user, organisation = _user(uow, username)
        if user.roles == clean:
            return Change(user.username, False)
        before = {"User": user.username, "Roles": user.roles}
        user.roles = clean
        audit.record_operator(
            uow,
            operator,
            "user roles",
            utcnow(),
            organisation_id=organisation.id,
            subject_user_id=user.id,
            before=before,
            after={"User": user.username, "Roles": clean},
        )
        uow.commit()
        return Change(user.username, True)


def list_organisations(uow: AbstractUnitOfWork) -> Sequence[OrganisationRow]:
    """Every organisation by reference, with its number of users."""
    with uow:
        users: dict[int, int] = {}
        for u in uow.users.listed(None):
            users[u.organisation_id] = users.get(u.organisation_id, 0) + 1
        return [
            OrganisationRow(o.ref, o.name, o.ukprn, o.batch_enabled, o.active, users.get(o.id or 0, 0))
            for o in uow.organisations.all()
        ]


def set_organisation_active(uow: AbstractUnitOfWork, *, operator: str, ref: str, active: bool) -> Change:
    """Deactivate an organisation (none of its users can log in) or activate it again."""
    with uow:
        organisation = _organisation(uow, ref)
        if organisation.active == active:
            return Change(organisation.ref, False)
        before = {"Organisation": organisation.ref, "Active": organisation.active}
        organisation.active = active
        audit.record_operator(
            uow,
            operator,
            "organisation activate" if active else "organisation deactivate",
            utcnow(),
            organisation_id=organisation.id,
            before=before,
            after={"Organisation": organisation.ref, "Active": active},
        )
        uow.commit()
        return Change(organisation.ref, True)
