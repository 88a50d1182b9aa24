"""User management by an organisation's AO_ADMIN (the portal's "User Management"), and SetPassword, with
which a user it added sets its first password."""

from __future__ import annotations

from typing import Any

from spyne import Integer, ServiceBase, Unicode, rpc

from lrs_ws.domain.error_codes import SUCCESS
from lrs_ws.domain.values import Page
from lrs_ws.service import users
from lrs_ws.service.auth import LoginPolicy
from lrs_ws.soap import portal_types as t
from lrs_ws.soap.context import caller_of, deps_of, request_context, request_uow, source_of
from lrs_ws.soap.lrs_contract_types import User

_REQ = {"min_occurs": 1, "nillable": False}
_UserName = Unicode(max_len=100, **_REQ)
# Comma-separated role names, as `lrs-ws user add --roles` takes them: AO_USER,EDC_USER.
_Roles = Unicode(max_len=100, **_REQ)


def _uow(ctx: Any):  # type: ignore[no-untyped-def]
    return request_uow(ctx)


def _policy(ctx: Any) -> LoginPolicy:
    return LoginPolicy.from_settings(deps_of(ctx).settings)


def _summary(view: users.UserView) -> t.UserSummary:
    return t.UserSummary(
        UserName=view.username,
        EmailAddress=view.email,
        Roles=",".join(view.roles),
        Active=view.active,
        LockedOut=view.locked_out,
    )


class UserAdministrationService(ServiceBase):
    """The caller organisation's users; AO_ADMIN only (SetPassword: the one-time token's holder)."""

    @rpc(User, Integer, Integer, _returns=t.UserList, _out_variable_name="ListUsersResult")
    def ListUsers(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        pageNumber: int | None,
        pageSize: int | None,  # noqa: N803
    ) -> t.UserList:
        """The organisation's users by name, paged: user name, e-mail address, roles, active, and whether
        failed logins lock the user out now."""
        caller = caller_of(ctx, invokingUser)
        s = deps_of(ctx).settings
        found = users.list_users(
            _uow(ctx),
            caller=caller,
            policy=_policy(ctx),
            page=Page.of(pageNumber, pageSize, default_size=s.default_page_size, max_size=s.max_page_size),
        )
        return t.UserList(TotalCount=found.total, Users=[_summary(v) for v in found.items])

    @rpc(
        User,
        _UserName,
        Unicode(max_len=254, **_REQ),
        _Roles,
        _returns=t.UserSummary,
        _out_variable_name="AddUserResult",
    )
    def AddUser(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        userName: str | None,  # noqa: N803
        emailAddress: str | None,
        roles: str | None,  # noqa: N803
    ) -> t.UserSummary:
        """Add a user to the organisation with roles (comma-separated) from AO_USER, EDC_USER and AO_ADMIN.
        The user cannot log in until it has set its password with SetPassword and the one-time token
        e-mailed to it (valid 24 hours)."""
        caller = caller_of(ctx, invokingUser)
        return _summary(
            users.add_user(
                _uow(ctx),
                caller=caller,
                username=userName,
                email=emailAddress,
                roles=(roles or "").split(","),
                policy=_policy(ctx),
            )
        )

    @rpc(User, _UserName, _Roles, _returns=t.UserSummary, _out_variable_name="SetUserRolesResult")
    def SetUserRoles(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        userName: str | None,
        roles: str | None,  # noqa: N803
    ) -> t.UserSummary:
        """Replace a user's roles (AO_USER, EDC_USER, AO_ADMIN): nominate or un-nominate EDC users. The
        last active AO_ADMIN cannot remove its own AO_ADMIN role."""
        caller = caller_of(ctx, invokingUser)
        return _summary(
            users.set_user_roles(
                _uow(ctx),
                caller=caller,
                username=userName,
                roles=(roles or "").split(","),
                policy=_policy(ctx),
            )
        )

    @rpc(User, _UserName, _returns=t.UserSummary, _out_variable_name="DeactivateUserResult")
    def DeactivateUser(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        userName: str | None,  # noqa: N803
    ) -> t.UserSummary:
        """Deactivate a user: it cannot log in (answered like a wrong password) nor receive EDC e-mails.
        The last active AO_ADMIN cannot deactivate itself."""
        caller = caller_of(ctx, invokingUser)
        return _summary(
            users.set_user_active(
                _uow(ctx), caller=caller, username=userName, active=False, policy=_policy(ctx)
            )
        )

    @rpc(User, _UserName, _returns=t.UserSummary, _out_variable_name="ReactivateUserResult")
    def ReactivateUser(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        userName: str | None,  # noqa: N803
    ) -> t.UserSummary:
        """Reactivate a deactivated user."""
        caller = caller_of(ctx, invokingUser)
        return _summary(
            users.set_user_active(
                _uow(ctx), caller=caller, username=userName, active=True, policy=_policy(ctx)
            )
        )

    @rpc(User, _UserName, _returns=t.UserSummary, _out_variable_name="UnlockUserResult")
    def UnlockUser(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        userName: str | None,  # noqa: N803
    ) -> t.UserSummary:
        """End a login lock-out now: forget the failed logins counted against the user."""
        caller = caller_of(ctx, invokingUser)
        return _summary(users.unlock_user(_uow(ctx), caller=caller, username=userName, policy=_policy(ctx)))

    @rpc(User, _UserName, _returns=t.UserHistory, _out_variable_name="GetUserHistoryResult")
    def GetUserHistory(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        userName: str | None,  # noqa: N803
    ) -> t.UserHistory:
        """Every audited change made to a user of the organisation, oldest first (When, UserName of who made
        it, Operation, Before, After)."""
        caller = caller_of(ctx, invokingUser)
        found = users.user_history(_uow(ctx), caller=caller, username=userName)
        return t.UserHistory(
            UserName=found.username,
            TotalCount=len(found.events),
            Events=[
                t.AuditEntry(
                    When=h.at, UserName=h.username, Operation=h.operation, Before=h.before, After=h.after
                )
                for h in found.events
            ],
        )

    @rpc(
        Unicode(max_len=100, **_REQ),
        Unicode(max_len=200, **_REQ),
        _returns=t.PasswordSet,
        _out_variable_name="SetPasswordResult",
    )
    def SetPassword(  # noqa: N802
        ctx: Any,
        token: str | None,
        newPassword: str | None,  # noqa: N803
    ) -> t.PasswordSet:
        """Set a user's first password with the one-time token e-mailed to it (no invokingUser: the token
        is the credential). The password: at least 12 characters, not the user name, not a common
        password. An unknown, used or expired token is refused, all alike; failed tries are throttled
        like failed logins."""
        username = users.set_password(
            _uow(ctx),
            token=token,
            new_password=newPassword,
            source=source_of(ctx),
            policy=_policy(ctx),
            request_id=request_context(ctx).request_id,
        )
        return t.PasswordSet(ResponseCode=SUCCESS, UserName=username)
