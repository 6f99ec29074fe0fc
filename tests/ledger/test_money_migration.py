"""Migration 0004 on a ledger that already holds rows (SQLite and Postgres): float money becomes
exact, token columns become 64-bit, the cache columns appear, and every row reads back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select, text, update

from gateway.ledger import migrate
from gateway.ledger.database import Database, build_engine
from gateway.ledger.models import calls
from gateway.ledger.queries import LedgerQueries
from tests.ledger.helpers import settings

# As migration 0002 left them: costs as doubles (with their binary noise), 32-bit tokens.
OLD_ROWS = [
    {
        "id": "a" * 32,
        "prompt": 1200,
        "completion": 300,
        "billed": 300,
        "price_input": 0.15,
        "price_output": 0.6,
        "cost": (1200 * 0.15 + 300 * 0.6) / 1e6,  # 0.00036 as a float
        "cancelled": 0.0,
        "savings": 0.0,
        "status": "completed",
    },
    {
        "id": "b" * 32,
        "prompt": 2_000_000_000,
        "completion": 3,
        "billed": 16384,
        "price_input": 2.5,
        "price_output": 10.0,
        "cost": (2_000_000_000 * 2.5 + 16384 * 10.0) / 1e6,
        "cancelled": (2_000_000_000 * 2.5 + 16384 * 10.0) / 1e6,
        "savings": 0.0,
        "status": "cancelled",
    },
    {
        "id": "c" * 32,
        "prompt": 7,
        "completion": 11,
        "billed": 11,
        "price_input": 0.1,
        "price_output": 0.3,
        "cost": (7 * 0.1 + 11 * 0.3) / 1e6 * 0.5,
        "cancelled": 0.0,
        "savings": (7 * 0.1 + 11 * 0.3) / 1e6 * 0.5,
        "status": "completed",
    },
]
EXPECTED_COST = {
    "a" * 32: Decimal("0.00036"),
    "b" * 32: Decimal("5000.16384"),
    "c" * 32: Decimal("0.000002"),
}

INSERT = text(
    "INSERT INTO calls (id, workload, model, provider, route, mode, status, http_status, "
    "prompt_tokens, completion_tokens, billed_completion_tokens, token_source, price_input, "
    "price_output, cost_usd, cancelled_cost_usd, batch_savings_usd, created_at) VALUES "
    "(:id, 'chat-ui', 'm', 'p', 'chat', 'sync', :status, 200, :prompt, :completion, :billed, "
    "'usage', :price_input, :price_output, :cost, :cancelled, :savings, :created_at)"
)


async def fill_old_ledger(url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, url, "0002")
    engine = build_engine(url)
    try:
        async with engine.begin() as conn:
            moment = datetime(2025, 6, 1, tzinfo=UTC)
            await conn.execute(INSERT, [{**row, "created_at": moment} for row in OLD_ROWS])
    finally:
        await engine.dispose()


async def test_upgrade_a_ledger_with_rows(db_url: str) -> None:
    await fill_old_ledger(db_url)
    await asyncio.to_thread(migrate.upgrade, db_url)
    database = Database(settings(db_url))
    try:
        queries = LedgerQueries(database)
        for old in OLD_ROWS:
            record = await queries.get(old["id"])
            assert record is not None
            assert (record["prompt_tokens"], record["billed_completion_tokens"]) == (
                old["prompt"],
                old["billed"],
            )
            assert (record["cached_prompt_tokens"], record["cache_write_tokens"]) == (0, 0)
            # the old rows were billed cached input (there was none) at the input price
            assert record["price_cache_read"] == record["price_input"] == old["price_input"]
            assert record["price_cache_write"] == old["price_input"]
            assert Decimal(str(record["cost_usd"])) == EXPECTED_COST[old["id"]]
        async with database.engine.begin() as conn:
            exact = dict((await conn.execute(select(calls.c.id, calls.c.cost_usd))).all())
            savings = (
                await conn.execute(select(calls.c.batch_savings_usd).where(calls.c.id == "c" * 32))
            ).scalar_one()
            big = update(calls).where(calls.c.id == "a" * 32)
            await conn.execute(big.values(prompt_tokens=2**40))  # room beyond 2**31 now
            stored = (
                await conn.execute(select(calls.c.prompt_tokens).where(calls.c.id == "a" * 32))
            ).scalar_one()
            await conn.execute(big.values(prompt_tokens=1200))
        assert exact == EXPECTED_COST
        assert savings == Decimal("0.000002")
        assert stored == 2**40
    finally:
        await database.close()
    await asyncio.to_thread(migrate.downgrade, db_url, "0002")  # and back, rows intact
    engine = build_engine(db_url)
    try:
        async with engine.connect() as conn:
            costs = dict((await conn.execute(text("SELECT id, cost_usd FROM calls"))).all())
    finally:
        await engine.dispose()
    assert costs == {key: float(value) for key, value in EXPECTED_COST.items()}
