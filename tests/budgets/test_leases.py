"""Leases: replicas sharing limits through Redis admit most calls without a round trip, and
together they still never pass a budget, a rate limit or a concurrency limit (two limiters on
one real Redis, each as a gateway replica runs it)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from gateway.auth import Identity
from gateway.budgets import leases as leasing
from gateway.budgets.estimate import pico, usd
from gateway.budgets.leases import Leases
from gateway.budgets.limiter import Limiter
from gateway.budgets.redis_store import RedisStore
from gateway.budgets.terms import Bill, Grant, Rule, Share, periods
from gateway.calls import Call
from gateway.config import Settings, build_settings
from gateway.errors import LimitExceeded
from tests.servers import gateway_config

from .helpers import delete_prefix, redis_prefix

pytestmark = pytest.mark.timeout(30)

LIMITS = {"rpm": 10**6, "tpm": 10**9, "concurrency": 10**4, "usd_per_day": 10**3}


def settings(limits: dict[str, Any], ttl: str = "60s") -> Settings:
    config = gateway_config("http://127.0.0.1:9", reservation_ttl=ttl)
    config["workloads"].append({"name": "leased", "keys": ["key-leased"], "limits": limits})
    return build_settings(config, {})


@pytest.fixture
async def make(redis_server: str) -> AsyncIterator[Callable[..., Any]]:
    """Limiters (replicas) on one Redis prefix of their own, started as a gateway starts them."""
    prefix = redis_prefix()
    made: list[Limiter] = []

    async def limiter(limits: dict[str, Any] = LIMITS, ttl: str = "60s") -> Limiter:
        made.append(Limiter(settings(limits, ttl), RedisStore.from_url(redis_server, prefix)))
        await made[-1].start()
        return made[-1]

    yield limiter
    for each in made:
        await each.close()
    await delete_prefix(redis_server, prefix)


class Counted:
    """Counts a store's admission scripts (the round trips on the request path)."""

    def __init__(self, limiter: Limiter) -> None:
        self.admits = 0
        store = limiter.store
        admit = store.admit

        async def counted(ask: Any) -> Any:
            self.admits += 1
            return await admit(ask)

        store.admit = counted  # type: ignore[method-assign]


def call(limiter: Limiter, max_tokens: int = 20) -> Call:
    model = limiter.settings.model("gpt-test")
    assert model is not None
    return Call(uuid.uuid4().hex, Identity("leased"), "chat", model, "sim", "sync",
                request_body={"model": "gpt-test", "max_tokens": max_tokens,
                              "messages": [{"role": "user", "content": "hi"}]})


def row(done: Call, cost: Decimal, tokens: int = 5) -> dict[str, Any]:
    return {"id": done.id, "workload": "leased", "key_id": None, "created_at": done.created_at,
            "prompt_tokens": tokens, "billed_completion_tokens": tokens, "cost_usd": cost}


async def figures(limiter: Limiter) -> tuple[int, int, int]:
    """(spent today, reserved today, in flight) of the workload, in the store."""
    _, _, (usage,) = await limiter.usage([limiter.workloads["leased"]])
    return usage.spent_day, usage.reserved_day, usage.in_flight


async def settle_all(*limiters: Limiter) -> None:
    for each in limiters:
        await each._flush()
        assert each.leases is not None
        await each.leases.trim(everything=True)


async def test_a_replica_admits_under_its_lease_without_a_round_trip(make: Any) -> None:
    limiter = await make()
    counted = Counted(limiter)
    headers = []
    for _ in range(100):
        each = call(limiter)
        await limiter.admit(each)
        headers.append(dict(each.headers))
        limiter.release(each)
        limiter.settle([row(each, Decimal("0.00001"))])
        await asyncio.sleep(0.002)  # a lease grows in the background
    assert counted.admits <= 10  # the first calls, before the lease came back: not 100
    assert headers[-1][b"x-ratelimit-limit-requests"] == str(10**6).encode()
    remaining = int(headers[-1][b"x-ratelimit-remaining-requests"])
    assert 10**6 - 110 <= remaining < 10**6  # what is left, the lease's free requests counted
    await settle_all(limiter)
    spent, reserved, in_flight = await figures(limiter)
    assert (spent, reserved, in_flight) == (pico(Decimal("0.001")), 0, 0)


async def test_two_replicas_never_pass_a_budget(make: Any) -> None:
    budget = Decimal("0.04")
    replicas = [await make({"usd_per_day": str(budget)}), await make({"usd_per_day": str(budget)})]
    billed: list[Decimal] = []
    leased: list[bool] = []
    rng = random.Random(7)

    async def one(index: int) -> None:
        limiter = replicas[index % 2]
        for _ in range(30):
            each = call(limiter, max_tokens=rng.randint(5, 40))
            try:
                await limiter.admit(each)
            except LimitExceeded as refused:
                assert refused.code == "budget_exceeded"
                await asyncio.sleep(0.01)
                continue
            assert limiter.leases is not None
            leased.append(each.id in limiter.leases.calls)
            await asyncio.sleep(rng.random() * 0.01)
            limiter.release(each)
            estimate = leasing_estimate(limiter, each)
            cost = (usd(estimate) * Decimal(rng.randint(0, 100)) / 100).quantize(
                Decimal("1e-12"))  # at most what was reserved, as the ledger bills it
            billed.append(cost)
            limiter.settle([row(each, cost)])

    await asyncio.gather(*(one(i) for i in range(40)))
    await settle_all(*replicas)
    spent, reserved, in_flight = await figures(replicas[0])
    assert spent == pico(sum(billed, Decimal(0)))
    assert spent <= pico(budget)  # never past the budget, by no pico-dollar
    assert spent > pico(budget) * 3 // 4  # and it was used, not refused from the start
    assert (reserved, in_flight) == (0, 0)  # every lease given back and ended
    assert sum(leased) > len(leased) / 3  # many calls admitted made no round trip (old: none)


def leasing_estimate(limiter: Limiter, each: Call) -> int:
    from gateway.budgets.estimate import estimate

    return estimate(each.model, each.route, each.request_body or {}).usd


async def test_two_replicas_never_pass_a_rate_or_concurrency_limit(make: Any) -> None:
    limits = {"rpm": 64, "concurrency": 32}
    replicas = [await make(limits), await make(limits)]
    admitted, in_flight, most = 0, 0, 0

    async def one(index: int) -> None:
        nonlocal admitted, in_flight, most
        limiter = replicas[index % 2]
        for _ in range(4):
            each = call(limiter)
            try:
                await limiter.admit(each)
            except LimitExceeded as refused:
                assert refused.limit in ("rpm", "concurrency")
                await asyncio.sleep(0.005)
                continue
            admitted += 1
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.02)
            in_flight -= 1
            limiter.release(each)
            limiter.settle([row(each, Decimal(0))])

    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(one(i) for i in range(60)))
    elapsed = asyncio.get_running_loop().time() - started
    assert most <= 32
    assert 32 <= admitted <= 64 + int(elapsed * 64 / 60) + 1  # a minute's 64, plus the refill
    assert any(each.leases and each.leases.by_id for each in replicas)  # leases were taken
    await settle_all(*replicas)
    _, _, flight = await figures(replicas[0])
    assert flight == 0


async def test_a_dead_replicas_leases_lapse(make: Any) -> None:
    doomed = await make(ttl="1s")
    survivor = await make()
    for _ in range(5):
        each = call(doomed)
        await doomed.admit(each)
        await asyncio.sleep(0.01)
    assert doomed.leases is not None and doomed.leases.by_id  # a lease, four calls on it
    _, reserved, in_flight = await figures(survivor)
    assert reserved > 0 and in_flight >= 5
    for task in doomed._tasks:  # it dies: nothing is renewed, given back or settled
        task.cancel()
    doomed._tasks = []
    doomed.leases = None
    lapsed = None
    for _ in range(50):  # the TTL is 1 s; a script purges what expired
        await asyncio.sleep(0.1)
        _, reserved, in_flight = await figures(survivor)
        lapsed = (reserved, in_flight)
        if lapsed == (0, 0):
            break
    assert lapsed == (0, 0)


class FakeStore:
    """A leasing store in memory that grants what it is asked and can hold a give-back."""

    def __init__(self) -> None:
        self.taken: list[Share] = []
        self.given: list[tuple[Share, bool]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def take(self, share: Share) -> Grant:
        self.taken.append(share)
        return Grant(share.usd, None, None)

    async def give(self, share: Share, close: bool) -> None:
        await self.gate.wait()
        self.given.append((share, close))


RULE = Rule("w:leased", usd_per_day=10**9)


async def test_a_call_refused_for_what_its_own_lease_holds_is_admitted() -> None:
    """Near a budget's end, money a replica's idle lease holds goes back to admit its call."""
    store = FakeStore()
    book = Leases(store, 60)
    day, month = periods(datetime.now(UTC))
    assert book.admit("a", (RULE,), 1000, 0, True, day, month) is None  # no lease yet
    await asyncio.sleep(0.01)
    assert book.admit("b", (RULE,), 1000, 0, True, day, month) is not None
    assert await book.yield_to((RULE,), day, month)
    (given, close), = store.given
    assert given.usd == leasing.CALLS * 1000 - 1000 and not close  # b's money stays held


async def test_a_lease_that_is_ending_takes_nothing_more() -> None:
    store = FakeStore()
    book = Leases(store, 60)
    day, month = periods(datetime.now(UTC))
    book.admit("a", (RULE,), 1000, 0, True, day, month)
    await asyncio.sleep(0.01)
    (lease,) = book.by_id.values()
    store.gate.clear()  # the give-back that ends the lease is on its way
    ending = asyncio.create_task(book.give_back(lease, close=True))
    await asyncio.sleep(0.01)
    assert book.admit("b", (RULE,), 1000, 0, True, day, month) is None
    await asyncio.sleep(0.01)
    assert len(store.taken) == 1  # no take that would outlive the lease's end
    store.gate.set()
    assert await ending and not book.by_id
    assert book.admit("c", (RULE,), 1000, 0, True, day, month) is None  # a new lease grows
    await asyncio.sleep(0.01)
    assert len(book.by_id) == 1 and store.taken[-1].id != lease.id


async def test_the_lease_scripts(redis_server: str) -> None:
    """Take, settle from and give back a lease, step by step in Redis's figures."""
    prefix = redis_prefix()
    store = RedisStore.from_url(redis_server, prefix)
    rule = Rule("w:s", rpm=64, tpm=1600, concurrency=32, usd_per_day=10**6)
    day, month = periods(datetime.now(UTC))

    def share(requests: int, tokens: int, slots: int, money: int, least: int = 0) -> Share:
        return Share("lease:t:1", (rule,), requests, tokens, slots, money, least, 60, day, month)

    async def usage() -> tuple[int, int, int, int, int]:
        (u,) = await store.usage([rule], day, month)
        assert u.requests is not None and u.tokens is not None
        return u.spent_day, u.reserved_day, u.in_flight, u.requests.remaining, u.tokens.remaining

    try:
        grant = await store.take(share(4, 100, 2, 1000, 10))
        assert grant is not None and grant.usd == 1000
        assert await usage() == (0, 1000, 2, 60, 1500)
        await store.settle([Bill("c1", ("w:s",), 900, 50, day, month, "lease:t:1", 900)])
        await store.settle([Bill("c2", ("w:s",), 100, 50, day, month, "lease:t:1", 100)])
        assert await usage() == (1000, 0, 2, 60, 1500)  # the lease is spent, not ended
        capped = await store.take(share(0, 0, 0, 10**6, 10))
        assert capped is not None and capped.usd == (10**6 - 1000) // 16  # 1/16 of headroom
        assert await store.take(share(0, 0, 0, 10**6, 10**5)) is None  # not even the least
        assert await store.take(share(61, 0, 0, 0)) is None  # all or nothing: 60 requests left
        await store.give(share(4, 100, 2, capped.usd), close=True)
        spent, reserved, in_flight, requests, tokens = await usage()
        assert (spent, reserved, in_flight) == (1000, 0, 0)
        assert requests == 64 and tokens == 1600  # back, up to each limit
        assert await store.take(share(0, 0, 33, 0)) is None  # more slots than the limit
    finally:
        await store.close()
        await delete_prefix(redis_server, prefix)
