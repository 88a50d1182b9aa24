"""The change feed in SQL: changes are noted in the session as they are audited and numbered at commit.

Why at commit: a number taken when a change is made would let a transaction that took number 7 commit after
one that took 8; a client that had already read 8 would never see 7. Here the unit of work calls `publish`
just before COMMIT: it takes the numbers for each organisation from its `change_counters` row with one
upsert, which locks the row (PostgreSQL) or runs under the database's single write lock (SQLite) until the
transaction ends. The next transaction of the organisation waits for that lock, so it takes higher numbers
and commits later: sequence order is commit order, and the lock is held only for the last two statements
and the commit. Organisations are locked in id order, so two transactions never wait for each other.

Every change of an achievement or an EDC writes an audit event (single operations, the batch worker, the
operator commands); noting the change where the audit event is written catches all of them. The under-
challenge flag is not audited on the achievement: a flush listener notes it when it changes.
"""

from __future__ import annotations

import json
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event, inspect, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from lrs_ws.db import achievement_rows, bulk
from lrs_ws.db.tables import achievements, event_data_challenges
from lrs_ws.db.tables_feed import achievement_changes as C
from lrs_ws.db.tables_feed import change_counters, service_secrets
from lrs_ws.domain import feed, model
from lrs_ws.domain.clock import utcnow

_PENDING = "lrs_ws.feed.pending"
CURSOR_KEY_NAME = "change_feed_cursor"
_IN_CHUNK = 500
# Every column of a change row, in the table's order (the order `publish` builds its rows in).
COLUMNS = tuple(C.c.keys())
# The achievement's own columns a change copies, in the same order.
_ACHIEVEMENT_FIELDS = tuple(c for c in COLUMNS if c in achievement_rows.COLUMNS and c != "organisation_id")
# A change read back: its columns, and its achievement under the achievements table's names (what
# achievement_rows.achievement_data reads). The change table keeps no withdrawal reason, and the achievement's
# times are the change's.
_READ = (
    *(C.c[name] for name in COLUMNS),
    C.c.achievement_id.label("id"),
    C.c.at.label("created_at"),
    C.c.at.label("updated_at"),
    literal("").label("withdrawn_reason"),
)


@dataclass(frozen=True)
class _Noted:
    at: datetime
    kinds: tuple[str, ...]
    achievement_id: int
    edc_id: int | None
    from_uln: str | None


def _pending(session: Session) -> list[_Noted]:
    return session.info.setdefault(_PENDING, [])  # type: ignore[no-any-return]


def note(
    session: Session,
    *,
    at: datetime,
    operation: str,
    achievement_id: int | None,
    edc_id: int | None,
    before: str | None,
) -> None:
    """Remember an audited change for the feed (nothing is written until `publish`)."""
    if achievement_id is None:
        return  # a read (FindLearnerByUln) or an administrative change: nothing an achievement feed shows
    kinds = feed.kinds_of(operation)
    from_uln = None
    if feed.TRANSFERRED_OUT in kinds and before:
        from_uln = json.loads(before).get("Uln")
    _pending(session).append(_Noted(at, kinds, achievement_id, edc_id, from_uln))


def _note_challenge_flags(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.dirty:
        if isinstance(obj, model.Achievement) and obj.id is not None:
            if inspect(obj).attrs.under_challenge.history.has_changes():
                _pending(session).append(
                    _Noted(utcnow(), (feed.UNDER_DATA_CHALLENGE_CHANGED,), obj.id, None, None)
                )


def watch(sessions: sessionmaker[Session]) -> None:
    """Note an achievement's UnderDataChallenge flag whenever a flush of one of these sessions is about to
    change it (listening once on the factory costs a session nothing when it is made)."""
    event.listen(sessions, "before_flush", _note_challenge_flags)


def _by_id(session: Session, table: Any, columns: Sequence[Any], ids: Iterable[int]) -> dict[int, Any]:
    wanted = sorted(set(ids))
    found: dict[int, Any] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        for row in session.execute(select(table.c.id, *columns).where(table.c.id.in_(chunk))):
            found[row.id] = row
    return found


def _take(session: Session, organisation_id: int, n: int) -> int:
    """Reserve `n` numbers for the organisation; returns the last. Locks its counter row until commit."""
    dialect = postgresql if bulk.is_postgresql(session) else sqlite
    stmt = dialect.insert(change_counters).values(organisation_id=organisation_id, last_seq=n)
    stmt = stmt.on_conflict_do_update(
        index_elements=[change_counters.c.organisation_id],
        set_={"last_seq": change_counters.c.last_seq + n},
    ).returning(change_counters.c.last_seq)
    return int(session.execute(stmt).scalar_one())


def publish(session: Session) -> None:
    """Write the changes noted in this transaction, numbered per organisation; call just before COMMIT.

    The counters are locked before the achievements' and EDCs' states are read: a transaction of the same
    organisation that changed them too has then either committed (and this read sees its work) or waits to
    number its own changes after these. Either way the last change a client reads shows the latest state.
    """
    session.flush()
    pending: list[_Noted] = session.info.pop(_PENDING, None) or []
    if not pending:
        return
    A, E = achievements.c, event_data_challenges.c
    owners = _by_id(session, achievements, [A.organisation_id], (n.achievement_id for n in pending))
    counts: dict[int, int] = defaultdict(int)
    for n in pending:
        counts[owners[n.achievement_id].organisation_id] += len(n.kinds)
    first = {}
    for organisation_id in sorted(counts):
        taken = counts[organisation_id]
        first[organisation_id] = _take(session, organisation_id, taken) - taken + 1
    rows = _by_id(session, achievements, [A[f] for f in _ACHIEVEMENT_FIELDS], owners)
    edcs = _by_id(
        session,
        event_data_challenges,
        [E.status, E.decision, E.action_verified],
        (n.edc_id for n in pending if n.edc_id is not None),
    )
    out: list[tuple[Any, ...]] = []
    for n in pending:
        organisation_id = owners[n.achievement_id].organisation_id
        a = rows[n.achievement_id]
        e = edcs.get(n.edc_id) if n.edc_id is not None else None
        edc_part = (n.edc_id, e.status, e.decision, e.action_verified) if e is not None else (None,) * 4
        for kind in n.kinds:
            from_uln = n.from_uln if kind in (feed.TRANSFERRED_OUT, feed.TRANSFERRED_IN) else None
            # a: (id, *_ACHIEVEMENT_FIELDS), the first of which is the ULN.
            out.append(
                (
                    organisation_id,
                    first[organisation_id],
                    n.at,
                    kind,
                    n.achievement_id,
                    a[1],
                    from_uln,
                    *a[2:],
                    *edc_part,
                )
            )
            first[organisation_id] += 1
    bulk.insert_rows(session, C, COLUMNS, out)


def forget(session: Session) -> None:
    """Drop what was noted (the transaction rolled back)."""
    session.info.pop(_PENDING, None)


# The signing key never changes once the database holds it: read it once per engine.
_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


class ChangeFeedRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def after(self, organisation_id: int, seq: int, limit: int) -> list[feed.Change]:
        """Up to `limit` of the organisation's changes numbered above `seq`, in order (one index range)."""
        rows = self.session.execute(
            select(*_READ)
            .where(C.c.organisation_id == organisation_id, C.c.seq > seq)
            .order_by(C.c.seq)
            .limit(limit)
        ).all()
        return [_change(row) for row in rows]

    def cursor_key(self) -> bytes:
        bind = self.session.get_bind()
        assert isinstance(bind, Engine)
        key = _keys.get(bind)
        if key is None:
            value = self.session.scalar(
                select(service_secrets.c.value).where(service_secrets.c.name == CURSOR_KEY_NAME)
            )
            if value is None:
                raise LookupError("the change feed's cursor key is missing: run `lrs-ws db upgrade`")
            key = _keys[bind] = bytes.fromhex(value)
        return key


def _change(row: Any) -> feed.Change:
    a = achievement_rows.achievement_data(row)
    edc = row.edc_id is not None
    return feed.Change(
        seq=row.seq,
        at=row.at,
        kind=row.kind,
        achievement=a,
        deleted=a.deleted,
        from_uln=row.from_uln,
        edc_reference=model.format_edc_reference(row.edc_id) if edc else None,
        edc_status=row.edc_status,
        edc_decision=row.edc_decision,
        edc_action_verified=bool(row.edc_action_verified) if edc else None,
    )
