"""The two stores (Redis scripts and the in-process one) give the same answers, step for step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.budgets.memory import MemoryStore
from gateway.budgets.redis_store import RedisStore
from gateway.budgets.terms import Ask, Bill, Rule, Store

from .helpers import delete_prefix, redis_prefix

DAY, MONTH = "d:2030-01-15", "m:2030-01"


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url = request.getfixturevalue("redis_server")
    prefix = redis_prefix()
    store = RedisStore.from_url(url, prefix)
    yield store
    await store.close()
    await delete_prefix(url, prefix)


def ask(call_id: str, *rules: Rule, usd: int = 0, tokens: int = 0, slot: bool = True,
        ttl: float = 60.0) -> Ask:
    return Ask(call_id, rules, usd, tokens, slot, ttl, DAY, MONTH)


def bill(call_id: str, scopes: tuple[str, ...] = (), usd: int = 0, tokens: int = 0,
         parent: str | None = None, share: int = 0) -> Bill:
    return Bill(call_id, scopes, usd, tokens, DAY, MONTH, parent, share)


async def test_requests_per_minute(store: Store) -> None:
    rule = Rule("w:a", rpm=2)
    first = await store.admit(ask("c1", rule))
    assert first.refused is None and first.requests is not None
    assert (first.requests.limit, first.requests.remaining) == (2, 1)
    assert 29 <= first.requests.reset <= 31  # one request refills in 30 s
    assert (await store.admit(ask("c2", rule))).refused is None
    refused = await store.admit(ask("c3", rule))
    assert (refused.refused, refused.scope) == ("rpm", "w:a")
    assert refused.retry_after is not None and 29 <= refused.retry_after <= 31
    assert refused.requests is not None and refused.requests.remaining == 0


async def test_tokens_per_minute_refund_unused_tokens(store: Store) -> None:
    rule = Rule("k:key", tpm=100)
    admitted = await store.admit(ask("c1", rule, tokens=60))
    assert admitted.tokens is not None and admitted.tokens.remaining == 40
    refused = await store.admit(ask("c2", rule, tokens=60))
    assert refused.refused == "tpm" and refused.retry_after is not None
    await store.settle([bill("c1", tokens=10)])  # 50 of the 60 come back
    assert (await store.admit(ask("c2", rule, tokens=60))).refused is None
    # a call larger than the whole limit takes the full bucket rather than never passing
    big = Rule("k:big", tpm=100)
    assert (await store.admit(ask("c3", big, tokens=10_000))).refused is None
    assert (await store.admit(ask("c4", big, tokens=1))).refused == "tpm"


async def test_concurrency_is_freed_on_release(store: Store) -> None:
    rule = Rule("w:a", concurrency=1)
    assert (await store.admit(ask("c1", rule))).refused is None
    refused = await store.admit(ask("c2", rule))
    assert (refused.refused, refused.retry_after) == ("concurrency", 1.0)
    assert (await store.admit(ask("d1", rule, slot=False))).refused is None  # deferred
    await store.release(["c1"])
    await store.release(["c1"])  # twice changes nothing
    assert (await store.admit(ask("c2", rule))).refused is None
    [usage] = await store.usage([rule], DAY, MONTH)
    assert usage.in_flight == 1
    # an admission may carry the ids of calls that ended: their slots are freed first
    piggyback = Ask("c3", (rule,), 0, 0, True, 60.0, DAY, MONTH, releases=("c2",))
    assert (await store.admit(piggyback)).refused is None


async def test_budgets_reserve_then_settle_to_the_bill(store: Store) -> None:
    rule = Rule("w:a", usd_per_day=1000, usd_per_month=5000)
    assert (await store.admit(ask("c1", rule, usd=600))).refused is None
    in_flight = await store.admit(ask("c2", rule, usd=600))
    assert (in_flight.refused, in_flight.retry_after) == ("usd_per_day", 1.0)  # wait for c1
    [usage] = await store.usage([rule], DAY, MONTH)
    assert (usage.spent_day, usage.reserved_day, usage.reserved_month) == (0, 600, 600)
    await store.settle([bill("c1", ("w:a",), usd=300)])
    assert (await store.admit(ask("c2", rule, usd=600))).refused is None
    await store.settle([bill("c2", ("w:a",), usd=600)])
    spent = await store.admit(ask("c3", rule, usd=200))
    assert (spent.refused, spent.retry_after) == ("usd_per_day", None)  # until the day ends
    [usage] = await store.usage([rule], DAY, MONTH)
    assert (usage.spent_day, usage.reserved_day, usage.spent_month) == (900, 0, 900)
    # a month budget used up outranks the day's
    tight = Rule("w:b", usd_per_day=100, usd_per_month=100)
    await store.settle([bill("x", ("w:b",), usd=100)])
    assert (await store.admit(ask("c4", tight, usd=1))).refused == "usd_per_month"


async def test_all_buckets_or_none(store: Store) -> None:
    workload, key = Rule("w:a", rpm=10, usd_per_day=1000), Rule("k:k", rpm=10, concurrency=1)
    assert (await store.admit(ask("c1", workload, key, usd=100))).refused is None
    refused = await store.admit(ask("c2", workload, key, usd=100))
    assert (refused.refused, refused.scope) == ("concurrency", "k:k")
    [w, k] = await store.usage([workload, key], DAY, MONTH)
    assert w.requests is not None and w.requests.remaining == 9  # the refusal took nothing
    assert w.reserved_day == 100 and k.in_flight == 1


async def test_reservations_lapse_unless_renewed(store: Store) -> None:
    rule = Rule("w:a", concurrency=5, usd_per_day=1000)
    await store.admit(ask("gone", rule, usd=300, ttl=0.3))
    await store.admit(ask("kept", rule, usd=200, ttl=0.3))
    await store.renew(["kept"], 5.0)  # before it lapses: it lives on
    await asyncio.sleep(0.4)
    [usage] = await store.usage([rule], DAY, MONTH)
    assert (usage.reserved_day, usage.in_flight) == (200, 1)
    await store.settle([bill("gone", ("w:a",), usd=50)])  # settled after it lapsed: spend counts
    [usage] = await store.usage([rule], DAY, MONTH)
    assert (usage.spent_day, usage.reserved_day) == (50, 200)


async def test_batch_shares_settle_from_one_reservation(store: Store) -> None:
    rule = Rule("w:a", usd_per_day=10_000)
    assert (await store.admit(ask("batch", rule, usd=1000, slot=False))).refused is None
    for index, share in enumerate((400, 400, 400)):
        await store.settle([bill(f"line{index}", ("w:a",), usd=100, parent="batch",
                                 share=share)])
    [usage] = await store.usage([rule], DAY, MONTH)
    assert (usage.spent_day, usage.reserved_day) == (300, 0)


async def test_seed_only_where_nothing_is_known(store: Store) -> None:
    rule = Rule("w:a", usd_per_day=1000)
    await store.seed([("w:a", DAY, 700)])
    await store.seed([("w:a", DAY, 5)])
    [usage] = await store.usage([rule], DAY, MONTH)
    assert usage.spent_day == 700
    assert (await store.admit(ask("c1", rule, usd=301))).refused == "usd_per_day"
