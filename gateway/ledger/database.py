"""The ledger database: an async engine for Postgres (asyncpg) or SQLite (aiosqlite)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.config import Settings
from gateway.ledger.call_insert import CallInsert
from gateway.ledger.models import calls, workloads
from gateway.ledger.postgres_insert import PostgresCalls
from gateway.ledger.schema import upgrade_in_child
from gateway.ledger.sqlite_insert import SqliteCalls, sqlite_pragmas

log = logging.getLogger("gateway.ledger")

CONNECT_TIMEOUT = 5.0


class DatabaseUnavailable(Exception):
    """The ledger database could not be reached or did not answer in time."""


class RowRejected(Exception):
    """The database answered, and refused the rows (bad data, a constraint)."""


def is_row_error(exc: BaseException) -> bool:
    """A data or constraint error (SQLSTATE class 22 or 23), as opposed to an outage."""
    if isinstance(exc, IntegrityError | DataError | sqlite3.IntegrityError | sqlite3.DataError):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate",
                                                          None) or ""  # asyncpg's own, or wrapped
    return str(sqlstate)[:2] in ("22", "23")


def describe(exc: BaseException) -> str:
    """The driver's message, without the SQL statement and its parameters."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return (text[0][:300] if text else "") or type(cause).__name__


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """Timestamps read back from SQLite are naive; every stored timestamp is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def build_engine(url: str) -> AsyncEngine:
    """An engine with short connect timeouts, so an outage fails fast into the spool."""
    parsed = make_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["timeout"] = CONNECT_TIMEOUT
    return create_async_engine(
        parsed, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    sqlite_pragmas(dbapi_connection, busy_timeout=10.0)


def insert_for(engine: AsyncEngine, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has `on_conflict_do_nothing/do_update`."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class Database:
    """Owns the engine; brings the schema to head once, then serves inserts and queries."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.url = settings.database_url
        self.engine = engine or build_engine(self.url)
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._rows: SqliteCalls | PostgresCalls | None = None  # the call rows' own connection
        self._schema_of: Database | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def shares_schema_with(self, other: Database) -> Database:
        """Another engine on the same database: once `other` brought the schema to head, this
        one need not again (the ledger writer's own engine, on its own loop)."""
        self._schema_of = other
        return self

    async def ensure_ready(self) -> None:
        """Migrate to head and upsert the config's workloads, once per process."""
        if self._ready or (self._schema_of is not None and self._schema_of._ready):
            return
        async with self._ready_lock:
            if self._ready:
                return
            await upgrade_in_child(self.url)
            await self.upsert_workloads()
            self._ready = True

    async def upsert_workloads(self) -> None:
        rows = [
            {
                "name": w.name,
                "mode": w.mode,
                "on_cancel": w.on_cancel,
                "created_at": now(),
                "updated_at": now(),
            }
            for w in self.settings.workloads
        ]
        if not rows:
            return
        statement = insert_for(self.engine, workloads)
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "mode": statement.excluded.mode,
                "on_cancel": statement.excluded.on_cancel,
                "updated_at": statement.excluded.updated_at,
            },
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement, rows)

    def insert_calls(self) -> postgresql.Insert | sqlite.Insert:
        return insert_for(self.engine, calls).on_conflict_do_nothing(index_elements=["id"])

    async def write_calls(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ledger rows; a row whose id is already there is skipped (idempotent), all or
        none, on a connection kept for them (`sqlite_insert`, `postgres_insert`). A SQLite
        ledger's rows are written synchronously: call this on a thread that may wait, the
        ledger writer's, or a command's."""
        if not rows:
            return
        await self.ensure_ready()
        if self._rows is None:
            insert = CallInsert(self.insert_calls(), self.engine.dialect)
            path = sqlite_path(self.url)
            self._rows = (SqliteCalls(path, insert) if path is not None
                          else PostgresCalls(self.engine, insert))
        if isinstance(self._rows, SqliteCalls):
            self._rows.write(rows)
        else:
            await self._rows.write(rows)

    async def close(self) -> None:
        if isinstance(self._rows, SqliteCalls):
            self._rows.close()
        elif self._rows is not None:
            await self._rows.close()
        await self.engine.dispose()
