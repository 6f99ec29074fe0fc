"""Call rows go in many to a statement, on a connection kept for them, all of a batch or none:
on SQLite one INSERT per run of a power of two rows (up to 128), on Postgres one statement of
column arrays a batch, one round trip (not a pool check-out, a ping, BEGIN, INSERT, COMMIT and
a reset). A broken Postgres connection is replaced, and its batch tried once more on the new
one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

from gateway.ledger.call_insert import CallInsert, multi_row
from gateway.ledger.costing import row_for
from gateway.ledger.database import Database, DatabaseUnavailable, RowRejected
from gateway.ledger.models import calls
from gateway.ledger.writer import write_rows
from tests.ledger.helpers import make_call, settings
from tests.ledger.test_writer import stored_ids

pytestmark = pytest.mark.timeout(60)


def rows(database: Database, count: int) -> list[dict[str, Any]]:
    return [row_for(make_call(database.settings)) for _ in range(count)]


def test_a_batch_takes_a_handful_of_statement_sizes() -> None:
    insert = CallInsert(sqlite.insert(calls).on_conflict_do_nothing(index_elements=["id"]),
                        sqlite.dialect())
    sizes = set()
    for count in range(1, 1001):
        runs = [sql.count("(?,") for sql, _ in insert.statements([{}] * count)]
        assert sum(runs) == count
        sizes.update(runs)
    assert sizes == {1, 2, 4, 8, 16, 32, 64, 128}


def test_the_statements_for_many_rows() -> None:
    tail = " ON CONFLICT (id) DO NOTHING"
    assert multi_row("INSERT INTO t (a, b) VALUES (?, ?)" + tail, 3) == (
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)" + tail)
    insert = CallInsert(postgresql.insert(calls).on_conflict_do_nothing(index_elements=["id"]),
                        pg_asyncpg.dialect())
    sql = insert.unnest()
    assert sql.startswith("INSERT INTO calls (id, workload, ")
    assert "SELECT * FROM unnest($1::VARCHAR[], $2::VARCHAR[], " in sql
    assert "$16::NUMERIC(38, 12)[], " in sql and sql.endswith(
        "$31::JSONB[]) ON CONFLICT (id) DO NOTHING")


async def _sqlite_statements(url: str) -> tuple[int, int]:
    database = Database(settings(url))
    inserts: list[str] = []
    try:
        batch = rows(database, 450)
        await database.ensure_ready()
        await write_rows(database, batch[:1], 5)  # opens the rows' connection
        connection = database._rows._conn  # type: ignore[union-attr]
        assert isinstance(connection, sqlite3.Connection)
        connection.set_trace_callback(
            lambda sql: inserts.append(sql) if sql.startswith("INSERT") else None)
        await write_rows(database, batch, 5)
        return len(inserts), len(await stored_ids(database))
    finally:
        await database.close()


def test_sqlite_takes_450_rows_in_five_statements(sqlite_url: str) -> None:
    """`executemany` stepped SQLite once a row, taking the interpreter lock back each time:
    450 = 128 * 3 + 64 + 2."""
    assert asyncio.run(_sqlite_statements(sqlite_url)) == (5, 450)


async def _postgres_queries(url: str) -> tuple[list[str], int]:
    database = Database(settings(url))
    queries: list[str] = []

    @event.listens_for(database.engine.sync_engine, "connect")
    def log_queries(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(
            lambda record: queries.append(record.query.split()[0].upper()))

    try:
        await write_rows(database, rows(database, 5), 5)  # checks the rows' connection out
        queries.clear()  # the migration's, the workloads' and the check-out's
        for _ in range(10):
            await write_rows(database, rows(database, 5), 5)
        written = list(queries)
        return written, len(await stored_ids(database))
    finally:
        await database.close()


def test_postgres_takes_a_batch_in_one_round_trip(pg_url: str) -> None:
    queries, stored = asyncio.run(_postgres_queries(pg_url))
    assert stored == 55
    assert queries == ["INSERT"] * 10, queries


@pytest.mark.parametrize("count", [3, 450], ids=["one-statement", "sqlite-five-statements"])
def test_a_refused_row_keeps_its_whole_batch_out(db_url: str, count: int) -> None:
    async def run() -> list[str]:
        database = Database(settings(db_url))
        batch = rows(database, count)
        batch[-1]["workload"] = None  # NOT NULL: the last statement fails
        try:
            with pytest.raises(RowRejected):
                await write_rows(database, batch, 5)
            await write_rows(database, batch[:-1], 5)  # the connection goes on
            return await stored_ids(database)
        finally:
            await database.close()

    assert len(asyncio.run(run())) == count - 1


def test_a_broken_postgres_connection_is_replaced_and_its_batch_goes_in(pg_url: str) -> None:
    async def run() -> int:
        database = Database(settings(pg_url))
        try:
            await write_rows(database, rows(database, 2), 5)
            async with database.engine.connect() as admin:
                await admin.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
                await admin.commit()
            await write_rows(database, rows(database, 3), 5)  # on a new connection
            return len(await stored_ids(database))
        finally:
            await database.close()

    assert asyncio.run(run()) == 5


def test_postgres_down_is_an_outage(postgres: Any) -> None:
    """Nothing listening: the batch fails as an outage (the writer spools it)."""
    from tests.servers import free_port

    async def run() -> None:
        database = Database(settings(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x"))
        database._ready = True  # no migration: straight to the rows' connection
        try:
            with pytest.raises(DatabaseUnavailable):
                await write_rows(database, rows(database, 2), 5)
        finally:
            await database.close()

    asyncio.run(run())
