"""The ledger's INSERT of call rows, compiled once per database and fed plain tuples.

SQLAlchemy's Core `execute(insert, rows)` rebuilds the parameters of every row through its
per-statement machinery on the event loop: about 25 us a row, the largest part of the ledger
writer's time. Here the statement is compiled once (`ON CONFLICT (id) DO NOTHING`, the
dialect's placeholders and casts) and each row becomes a tuple through the same per-column bind
processors SQLAlchemy would apply (Money's exact encoding, timestamps, JSON), then goes to the
driver as it is, many rows to a statement: on SQLite `INSERT ... VALUES (...), (...)` for
runs of up to 128 rows (`statements`), on Postgres one statement of column arrays for a whole batch
(`unnest`). A driver's `executemany` stepped SQLite once a row, taking the interpreter lock
back from the request loop between two rows, a cross-core handoff each time (at 4,000 calls/s
those handoffs put the concurrency-20 p99 at 25 ms, 8-9 ms after); on Postgres a statement a
batch size would be prepared anew for most batches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.engine import Dialect

from gateway.ledger.models import calls

Processor = Callable[[Any], Any] | None
ROWS_PER_STATEMENT = 128  # 3,968 parameters: under every SQLite build's limit since 3.32
_PLACEHOLDER_SPLIT = re.compile(r", (?=\$\d)")  # between `$1::NUMERIC(38, 12)` and `$2::...`


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

    def statements(self, rows: Sequence[dict[str, Any]],
                   most: int = ROWS_PER_STATEMENT) -> Iterator[tuple[str, list[Any]]]:
        """(statement, its flat parameters) for each run of rows (SQLite): runs of a power of
        two rows, up to `most`, so that a handful of statements serve every batch size (a
        statement a size would fill SQLite's statement cache: 128 prepared statements of up
        to 200 rows held 35 MB)."""
        params = self.params(rows)
        start = 0
        while start < len(params):
            size = min(most, 1 << ((len(params) - start).bit_length() - 1))
            chunk = params[start:start + size]
            start += size
            yield multi_row(self.sql, size), [v for row in chunk for v in row]

    def unnest(self) -> str:
        """The statement for any number of rows, one array parameter a column (Postgres):
        `INSERT ... SELECT * FROM unnest($1::VARCHAR[], ...) ON CONFLICT ...`, prepared once."""
        head, rest = self.sql.split(" VALUES (", 1)
        group, tail = rest.split(") ON CONFLICT ", 1)
        arrays = ", ".join(f"{p}[]" for p in _PLACEHOLDER_SPLIT.split(group))
        return f"{head} SELECT * FROM unnest({arrays}) ON CONFLICT {tail}"

    def columns(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """The rows' values a column at a time, for `unnest()`."""
        return list(zip(*self.params(rows), strict=True))


@cache
def multi_row(sql: str, rows: int) -> str:
    """`INSERT ... VALUES (?, ...) ON CONFLICT ...` for `rows` rows: the row of placeholders
    repeated."""
    head, rest = sql.split(" VALUES ", 1)
    group, tail = rest.split(" ON CONFLICT ", 1)
    return f"{head} VALUES {', '.join([group] * rows)} ON CONFLICT {tail}"


def _processor(column: Column[Any], dialect: Dialect) -> Processor:
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _default(column: Column[Any]) -> Any:
    default = column.default
    return getattr(default, "arg", None) if default is not None and default.is_scalar else None
