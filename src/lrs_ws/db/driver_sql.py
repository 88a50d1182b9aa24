"""The hot reads' SELECTs run on the driver's cursor, below SQLAlchemy's per-statement cost.

Every SOAP call authenticates (two statements) and the most frequent calls read one or two rows more; through
SQLAlchemy's Core each of those statements costs several times the driver's own work (parameter and result
processing in Python, execution contexts, events). A `DriverSelect` is a Core SELECT compiled once per
dialect; each execution sends the compiled SQL on the session's own DBAPI connection (so in its transaction),
with the parameters converted by the columns' bind processors and the values read back by their result
processors: the rows hold what SQLAlchemy would have returned. A driver error is wrapped as SQLAlchemy wraps
one (`DBAPIError`), and a lost connection is invalidated, so the unit of work treats both as it treats any
other statement's.

Only for statements without expanding (IN-list) parameters; SQLAlchemy's cursor events do not see these.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Plan:
    sql: str
    # Positional paramstyles (SQLite's qmark): the parameter names in the order the SQL uses them, else None.
    positions: tuple[str, ...] | None
    binds: dict[str, Processor]
    # The values of the statement's own parameters (a literal the statement was built with).
    defaults: dict[str, Any]
    results: tuple[tuple[int, Processor], ...]
    row: Callable[..., Any]

    def arguments(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        given = {**self.defaults, **params} if self.defaults else params
        values = {name: (p(value) if (p := self.binds.get(name)) else value) for name, value in given.items()}
        if self.positions is None:
            return values
        return [values[name] for name in self.positions]

    def rows(self, fetched: list[Any]) -> list[Any]:
        make, convert = self.row, self.results
        if not convert:
            return [make(*r) for r in fetched]
        out = []
        for r in fetched:
            values = list(r)
            for i, p in convert:
                values[i] = p(values[i])
            out.append(make(*values))
        return out


# Session.info key: (the session's transaction, its connection). A transaction keeps one connection to its
# end; the next one may have another, so the connection is asked for again when the transaction changes.
_IN_TRANSACTION = "lrs_ws.driver_connection"


def _connection(session: Session) -> Connection:
    transaction = session.get_transaction()
    held = session.info.get(_IN_TRANSACTION)
    if transaction is not None and held is not None and held[0] is transaction:
        return held[1]  # type: ignore[no-any-return]
    connection = session.connection()
    session.info[_IN_TRANSACTION] = (session.get_transaction(), connection)
    return connection


class DriverSelect:
    """A Core SELECT sent on the driver's cursor; rows are named tuples of the selected columns' keys."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        compiled: Any = self.statement.compile(dialect=dialect)
        binds = compiled.binds
        assert not any(b.expanding for b in binds.values()), "expanding parameters are not supported"
        processors = {}
        for name, bind in binds.items():
            p = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if p is not None:
                processors[name] = p
        columns = list(self.statement.selected_columns)
        results = []
        for i, column in enumerate(columns):
            p = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if p is not None:
                results.append((i, p))
        defaults = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        positions = tuple(compiled.positiontup) if compiled.positional else None
        row = collections.namedtuple("Row", [c.key for c in columns])  # type: ignore[misc]
        plan = _Plan(str(compiled), positions, processors, defaults, tuple(results), row)
        self._plans[dialect.name] = plan
        return plan

    def all(self, session: Session, params: Mapping[str, Any]) -> list[Any]:
        connection = _connection(session)
        dialect = connection.dialect
        plan = self._plans.get(dialect.name) or self._plan(dialect)
        dbapi_connection: Any = connection.connection.dbapi_connection
        cursor = None
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(plan.sql, plan.arguments(params))
                fetched = cursor.fetchall()
            finally:
                cursor.close()
        except dialect.loaded_dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, dbapi_connection, cursor)
            if lost:
                connection.invalidate(exc)
            raise DBAPIError.instance(
                None, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost
            ) from exc
        return plan.rows(fetched)

    def first(self, session: Session, params: Mapping[str, Any]) -> Any | None:
        rows = self.all(session, params)
        return rows[0] if rows else None
