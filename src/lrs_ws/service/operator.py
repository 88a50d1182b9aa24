"""The identity a command-line operator acts under.

`lrs-ws` runs on the server with direct database access, so it is trusted like any other administration
command: it acts as the named user without that user's password. The use case still checks the user's roles,
and every change is audited under that user's name.
"""

from __future__ import annotations

import uuid

from lrs_ws.domain import errors as e
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service.auth import Caller


def operator_caller(uow: AbstractUnitOfWork, *, username: str) -> Caller:
    """The active user `username` as a Caller."""
    with uow:
        user = uow.users.by_username(username.strip())
        organisation = uow.organisations.get(user.organisation_id) if user is not None else None
        if user is None or not user.active or organisation is None or not organisation.active:
            raise e.InvalidValue("user", f"There is no active user {username.strip()[:100]!r}.")
        return Caller.of(user, organisation, f"cli-{uuid.uuid4().hex[:12]}")
