"""The caller organisation's change feed (ListAchievementChanges and `lrs-ws changes`)."""

from __future__ import annotations

from lrs_ws.domain import errors as e
from lrs_ws.domain import feed, model, values
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service.auth import Caller

OP_FEED = "reading the organisation's achievement changes"


def list_changes(
    uow: AbstractUnitOfWork, *, caller: Caller, cursor: str | None, page_size: int
) -> feed.ChangePage:
    """The caller organisation's changes after `cursor` (from the beginning without one), oldest first, at
    most `page_size` of them; the cursor to pass next and whether more are waiting already."""
    caller.require(model.ROLE_AO_USER, OP_FEED)
    return changes_of(uow, organisation_id=caller.organisation_id, cursor=cursor, page_size=page_size)


def changes_of(
    uow: AbstractUnitOfWork, *, organisation_id: int, cursor: str | None, page_size: int
) -> feed.ChangePage:
    """One page of an organisation's feed (the operator's command names the organisation itself)."""
    with uow:
        key = uow.changes.cursor_key()
        after = feed.decode_cursor(key, organisation_id, cursor)
        # One more than asked for tells whether more are waiting, without counting them.
        found = list(uow.changes.after(organisation_id, after, page_size + 1))
        page = found[:page_size]
        last = page[-1].seq if page else after
        return feed.ChangePage(page, feed.encode_cursor(key, organisation_id, last), len(found) > page_size)


def organisation_id_of(uow: AbstractUnitOfWork, ref: str) -> int:
    """The id of an organisation by its reference (for the operator's command)."""
    clean_ref = values.check_org_ref(ref)
    with uow:
        org = uow.organisations.by_ref(clean_ref)
        if org is None or org.id is None:
            raise e.UnknownOrganisation(clean_ref)
        return org.id
