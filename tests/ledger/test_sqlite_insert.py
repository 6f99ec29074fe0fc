"""A SQLite ledger's rows go in through a plain connection of the writer's own: idempotent, all
of a batch or none, a refused row reported as such and a locked database as an outage (so the
rows are spooled, not lost)."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.ledger import sqlite_insert
from gateway.ledger.costing import row_for
from gateway.ledger.database import Database, DatabaseUnavailable, RowRejected
from gateway.ledger.models import calls
from gateway.ledger.writer import write_rows
from tests.ledger.helpers import make_call, settings
from tests.ledger.test_writer import stored_ids

pytestmark = pytest.mark.timeout(30)


def database(tmp_path: Path) -> Database:
    return Database(settings(f"sqlite+aiosqlite:///{tmp_path}/ledger.db"))


async def _round_trip(tmp_path: Path) -> None:
    db = database(tmp_path)
    config = db.settings
    rows = [row_for(make_call(config)) for _ in range(3)]
    try:
        await write_rows(db, rows, 5)
        await write_rows(db, rows[:2], 5)  # again: skipped, not doubled
        assert sorted(await stored_ids(db)) == sorted(row["id"] for row in rows)
        assert isinstance(db._rows, sqlite_insert.SqliteCalls)  # through the plain connection
        async with db.engine.connect() as conn:
            stored = (await conn.execute(select(calls.c.id, calls.c.cost_usd))).all()
        assert {row_id: cost for row_id, cost in stored} == {
            row["id"]: Decimal(str(row["cost_usd"])) for row in rows}  # exact money back
    finally:
        await db.close()


def test_rows_go_in_once_with_exact_money(tmp_path: Path) -> None:
    asyncio.run(_round_trip(tmp_path))


async def _refused(tmp_path: Path) -> None:
    db = database(tmp_path)
    good, bad = row_for(make_call(db.settings)), row_for(make_call(db.settings))
    bad["workload"] = None  # NOT NULL
    try:
        with pytest.raises(RowRejected):
            await write_rows(db, [good, bad], 5)
        assert await stored_ids(db) == []  # all of the batch or none
    finally:
        await db.close()


def test_a_refused_row_is_reported_as_refused(tmp_path: Path) -> None:
    asyncio.run(_refused(tmp_path))


async def _locked(tmp_path: Path) -> None:
    db = database(tmp_path)
    row = row_for(make_call(db.settings))
    await db.ensure_ready()
    holder = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the database
    try:
        with pytest.raises(DatabaseUnavailable):
            await write_rows(db, [row], 5)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        await write_rows(db, [row], 5)  # free again: the same connection goes on
        assert await stored_ids(db) == [row["id"]]
    finally:
        await db.close()


def test_a_locked_database_is_an_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_insert, "BUSY_TIMEOUT", 0.2)
    asyncio.run(_locked(tmp_path))
