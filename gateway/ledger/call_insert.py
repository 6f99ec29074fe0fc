"""The ledger's INSERT of call rows, compiled once per database and fed plain tuples.

SQLAlchemy's Core `execute(insert, rows)` rebuilds the parameters of every row through its
per-statement machinery on the event loop: about 25 us a row, the largest part of the ledger
writer's time. Here the statement is compiled once (`ON CONFLICT (id) DO NOTHING`, the
dialect's placeholders and casts) and each row becomes a tuple through the same per-column bind
processors SQLAlchemy would apply (Money's exact encoding, timestamps, JSON), then goes to the
driver's `executemany` as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.models import calls

Processor = Callable[[Any], Any] | None


class CallInsert:
    """`INSERT INTO calls ... ON CONFLICT (id) DO NOTHING` for one dialect."""

    def __init__(self, statement: Any, dialect: Dialect, table: Table = calls) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        names = list(compiled.positiontup or ())
        columns = {column.name: column for column in table.columns}
        self.names = names
        self.defaults = {n: _default(columns[n]) for n in names}
        self._values = itemgetter(*names)
        self._processed = [
            (index, process)
            for index, name in enumerate(names)
            if (process := _processor(columns[name], dialect)) is not None
        ]

    def params(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """The rows as positional tuples; a column a row lacks takes its default."""
        processed = self._processed
        out = []
        for row in rows:
            try:
                values = list(self._values(row))
            except KeyError:
                values = [row.get(name, self.defaults[name]) for name in self.names]
            for index, process in processed:
                value = values[index]
                if value is not None:
                    values[index] = process(value)
            out.append(tuple(values))
        return out

    async def execute(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        await conn.exec_driver_sql(self.sql, self.params(rows))


def _processor(column: Column[Any], dialect: Dialect) -> Processor:
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _default(column: Column[Any]) -> Any:
    default = column.default
    return getattr(default, "arg", None) if default is not None and default.is_scalar else None
