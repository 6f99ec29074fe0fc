"""The database's clock, in epoch seconds, as a SQL expression.

Leases, poll slots and delivery claims are stamped and compared with it inside the statements
that take them, so workers on hosts whose clocks disagree still agree on when a lease lapses:
none steals a live lease, and none keeps a dead worker's lease alive.
"""

from __future__ import annotations

from sqlalchemy import Double, cast, extract, func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

UNIX_EPOCH_JULIAN_DAY = 2440587.5


def database_now(engine: AsyncEngine) -> ColumnElement[float]:
    """`now` in the database: Postgres's `clock_timestamp()` (not the transaction's start),
    SQLite's `julianday('now')` (SQLite before 3.42 has no `unixepoch('subsec')`)."""
    if engine.dialect.name == "postgresql":
        return cast(extract("epoch", func.clock_timestamp()), Double)
    return cast((func.julianday("now") - UNIX_EPOCH_JULIAN_DAY) * 86400.0, Double)
