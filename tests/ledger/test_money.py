"""Money in the database: exact (NUMERIC on Postgres, integer pico-USD on SQLite), read back as
Decimal, summed without drift; token columns hold 64-bit counts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from gateway.ledger.costing import row_for
from gateway.ledger.database import Database
from gateway.ledger.models import calls
from gateway.ledger.queries import LedgerQueries
from gateway.ledger.spool import FileSpool
from tests.ledger.helpers import make_call, make_meter, settings

NEW_PRICES = ("price_cache_read", "price_cache_write")
MONEY_COLUMNS = ("price_input", "price_output", "cost_usd", "cancelled_cost_usd")
MODELS = [
    {"name": "gpt-4o-mini", "provider": "up", "price": {"input": 0.1, "output": 0.7}},
    {"name": "gen-model", "provider": "gen", "upstream_model": "gpt-4"},
]


async def test_costs_sum_exactly_in_the_database(db_url: str) -> None:
    database = Database(settings(db_url, models=MODELS))
    try:
        s = database.settings
        rows = [row_for(make_call(s, meter=make_meter([], usage=(3, 1)))) for _ in range(1000)]
        rows.append(row_for(make_call(s, mode="batch", meter=make_meter([], usage=(3, 1)))))
        await database.write_calls(rows)
        async with database.engine.connect() as conn:
            total = (await conn.execute(select(func.sum(calls.c.cost_usd)))).scalar_one()
            one = (await conn.execute(select(calls).where(calls.c.id == rows[0]["id"]))).one()
        # 1000 x (3 x 0.1 + 1 x 0.7) / 1e6 + half of one more: as floats, 0.1 and 0.7 drift
        assert isinstance(total, Decimal) and total == Decimal("0.0010005")
        assert isinstance(one.cost_usd, Decimal) and one.cost_usd == Decimal("0.000001")
        assert (one.price_input, one.price_output) == (Decimal("0.1"), Decimal("0.7"))
        [spend] = await LedgerQueries(database).spend([])
        assert spend["cost_usd"] == 0.0010005 and spend["batch_savings_usd"] == 0.0000005
        record = await LedgerQueries(database).get(rows[0]["id"])
        assert record is not None and record["cost_usd"] == 0.000001  # JSON-ready numbers
    finally:
        await database.close()


async def test_token_columns_are_64_bit_and_cached_tokens_add_up(db_url: str) -> None:
    database = Database(settings(db_url))
    try:
        s = database.settings
        huge = make_meter([], usage=(2**40, 2**33))
        huge.set_usage(None, None, 2**39, 2**35)
        small = make_meter([], usage=(100, 5))
        small.set_usage(None, None, 60, None)
        rows = [row_for(make_call(s, meter=meter)) for meter in (huge, small)]
        await database.write_calls(rows)
        stored = await LedgerQueries(database).get(rows[0]["id"])
        assert stored is not None
        assert (stored["prompt_tokens"], stored["completion_tokens"]) == (2**40, 2**33)
        assert (stored["cached_prompt_tokens"], stored["cache_write_tokens"]) == (2**39, 2**35)
        [spend] = await LedgerQueries(database).spend([])
        assert spend["prompt_tokens"] == 2**40 + 100
        assert spend["cached_prompt_tokens"] == 2**39 + 60
        assert spend["cache_write_tokens"] == 2**35
    finally:
        await database.close()


async def test_spooled_rows_keep_exact_money_and_old_rows_still_land(
    db_url: str, tmp_path: Path
) -> None:
    """A row waits in the spool as JSON: its money as decimal text. A row spooled by a gateway
    from before the cache columns (float money, no cache fields) is completed on replay."""
    database = Database(settings(db_url, models=MODELS))
    try:
        s = database.settings
        new = row_for(make_call(s, meter=make_meter([], usage=(3, 1))))
        old = row_for(make_call(s, meter=make_meter([], usage=(3, 1))))
        for name in ("cached_prompt_tokens", "cache_write_tokens", *NEW_PRICES):
            del old[name]
        old.update({name: float(old[name]) for name in MONEY_COLUMNS})
        spool = FileSpool(tmp_path / "ledger.spool")
        await spool.push([new, old])
        assert await spool.replay(database.write_calls, batch_size=10) == 2
        async with database.engine.connect() as conn:
            stored = {r.id: r for r in await conn.execute(select(calls))}
        assert stored[new["id"]].cost_usd == Decimal("0.000001")
        assert stored[old["id"]].cost_usd == Decimal("0.000001")
        assert stored[old["id"]].price_cache_read == Decimal("0.1")  # its input price
        assert stored[old["id"]].cached_prompt_tokens == 0
    finally:
        await database.close()
