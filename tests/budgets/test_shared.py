"""Limits shared by gateway processes through Redis (on one Postgres ledger): 100 concurrent
calls on two gateways never spend past a budget, rate limits count across both, and the
reservations of a gateway killed with calls in flight return after their TTL."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, select

from gateway.budgets.redis_store import PREFIX
from gateway.ledger.database import build_engine
from gateway.ledger.models import calls
from tests.ledger.live import wait_until
from tests.servers import ServerProcess, gateway_config, start_gateway
from tests.services import PostgresDatabases

from .helpers import bearer, chat, settled, workload_budget

RUN = uuid.uuid4().hex[:8]  # this run's workloads: no figures left in Redis by another run
SPEND, RATE, CRASH = f"spend-{RUN}", f"rate-{RUN}", f"crash-{RUN}"
LEASED = f"leased-{RUN}"  # limits large enough for each gateway to lease headroom
BUDGET = Decimal("0.001")


@pytest.fixture(scope="module")
def shared_config(
    tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess, postgres: PostgresDatabases,
    redis_server: str,
) -> Iterator[dict[str, Any]]:
    config = gateway_config(sim.url, database_url=postgres.new(), redis_url=redis_server)
    config["workloads"] += [
        {"name": SPEND, "keys": [f"key-{SPEND}"], "limits": {"usd_per_day": str(BUDGET)}},
        {"name": RATE, "keys": [f"key-{RATE}"], "limits": {"rpm": 3}},
        {"name": CRASH, "keys": [f"key-{CRASH}"],
         "limits": {"concurrency": 10, "usd_per_day": 1}},
        {"name": LEASED, "keys": [f"key-{LEASED}"],
         "limits": {"rpm": 100000, "tpm": 10**8, "concurrency": 1000, "usd_per_day": 10}},
    ]
    config["tmp"] = tmp_path_factory.mktemp("shared")
    yield config
    client = redis.Redis.from_url(redis_server)
    keys = list(client.scan_iter(match=f"{PREFIX[:-2]}*{RUN}*"))
    if keys:
        client.delete(*keys)
    client.close()


def start(config: dict[str, Any]) -> ServerProcess:
    tmp = config["tmp"]
    with contextlib.chdir(tmp):  # the Postgres ledger's spool and journal land there
        return start_gateway(tmp, {k: v for k, v in config.items() if k != "tmp"})


@pytest.fixture(scope="module")
def pair(shared_config: dict[str, Any]) -> Iterator[list[ServerProcess]]:
    gateways = [start(shared_config), start(shared_config)]
    yield gateways
    for gateway in gateways:
        gateway.stop()


def ledger_total(database_url: str, workload: str) -> tuple[Decimal, int]:
    async def read() -> tuple[Decimal, int]:
        engine = build_engine(database_url)
        try:
            async with engine.connect() as conn:
                query = select(func.sum(calls.c.cost_usd), func.count()).where(
                    calls.c.workload == workload)
                total, count = (await conn.execute(query)).one()
                return Decimal(total or 0), count
        finally:
            await engine.dispose()

    return asyncio.run(read())


async def _spend_concurrently(gateways: list[ServerProcess]) -> list[tuple[int, Any]]:
    """100 calls at once over both gateways; each one retries while the budget is only held
    by calls in flight (retry-after 1), and stops at a success or a budget used up."""
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(index: int) -> tuple[int, Any]:
            gateway = gateways[index % 2]
            refusals = []
            while True:
                response = await client.post(
                    f"{gateway.url}/v1/chat/completions", headers=bearer(f"key-{SPEND}"),
                    json={"model": "gpt-test", "max_tokens": 20,
                          "messages": [{"role": "user", "content": f"call {index}"}]})
                if response.status_code == 200:
                    return index % 2, refusals
                refusals.append(response)
                if int(response.headers.get("retry-after", 0)) > 1:
                    return -1, refusals
                await asyncio.sleep(0.3)

        return await asyncio.gather(*(one(i) for i in range(100)))


@pytest.mark.timeout(90)
def test_two_gateways_never_spend_past_a_budget(
    pair: list[ServerProcess], shared_config: dict[str, Any]
) -> None:
    outcomes = asyncio.run(_spend_concurrently(pair))
    served = [who for who, _ in outcomes if who >= 0]
    refusals = [r for _, rs in outcomes for r in rs]
    assert set(served) == {0, 1} and len(served) < 100  # both served, the budget stopped some
    assert refusals and all(r.status_code == 429 for r in refusals)
    assert all(int(r.headers["retry-after"]) >= 1 for r in refusals)
    assert {r.json()["error"]["code"] for r in refusals} == {"budget_exceeded"}

    entry = settled(pair[0], SPEND, len(served))["usd_per_day"]
    spent, count = ledger_total(shared_config["database_url"], SPEND)
    assert count == len(served)
    assert spent <= BUDGET  # never past the budget, not by a pico-dollar
    assert spent > BUDGET / 2  # and the budget was used, not refused from the start
    assert Decimal(str(entry["spent"])) == spent
    assert entry["reserved"] == 0
    assert workload_budget(pair[1], SPEND)["usd_per_day"] == entry  # one figure for both


def test_rate_limits_count_across_gateways(pair: list[ServerProcess]) -> None:
    assert [chat(pair[i % 2], f"key-{RATE}").status_code for i in range(3)] == [200] * 3
    refused = chat(pair[1], f"key-{RATE}")
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-limit-requests"] == "3"


def test_a_killed_gateways_reservations_lapse(
    pair: list[ServerProcess], shared_config: dict[str, Any]
) -> None:
    doomed = start({**shared_config, "reservation_ttl": "1s"})  # its reservations' TTL

    def slow_call() -> None:
        with contextlib.suppress(httpx.HTTPError):
            chat(doomed, f"key-{CRASH}", "wait [sim ttft_ms=8000]")

    threads = [threading.Thread(target=slow_call, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()

    def figures() -> tuple[int, float]:
        entry = workload_budget(pair[0], CRASH)
        return entry["concurrency"]["in_flight"], entry["usd_per_day"]["reserved"]

    wait_until(lambda: figures()[0] == 3, 10, "three calls in flight")
    assert figures()[1] > 0
    doomed.proc.kill()  # SIGKILL: nothing is released or settled by it
    doomed.proc.wait(5)
    doomed.stop()
    wait_until(lambda: figures() == (0, 0), 10, "the dead gateway's reservations lapsed")
    assert chat(pair[0], f"key-{CRASH}").status_code == 200


def test_leased_calls_on_two_gateways_settle_to_the_ledger(
    pair: list[ServerProcess], shared_config: dict[str, Any]
) -> None:
    """Calls admitted on each gateway's lease: once idle, the leases are given back and the
    shared figures are the ledger's (nothing left reserved or in flight)."""

    async def load() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            async def one(index: int) -> int:
                response = await client.post(
                    f"{pair[index % 2].url}/v1/chat/completions",
                    headers=bearer(f"key-{LEASED}"),
                    json={"model": "gpt-test", "max_tokens": 20,
                          "messages": [{"role": "user", "content": f"call {index}"}]})
                return response.status_code

            statuses = []
            for wave in range(4):
                statuses += await asyncio.gather(*(one(wave * 30 + i) for i in range(30)))
            return statuses

    assert asyncio.run(load()) == [200] * 120
    # the ledger's writers insert a few milliseconds after each answer
    wait_until(lambda: ledger_total(shared_config["database_url"], LEASED)[1] == 120, 10,
               "every call in the ledger")
    spent, count = ledger_total(shared_config["database_url"], LEASED)
    assert count == 120 and spent > 0

    def idle() -> bool:
        entry = workload_budget(pair[0], LEASED)
        return (entry["usd_per_day"]["reserved"] == 0 and entry["concurrency"]["in_flight"] == 0
                and Decimal(str(entry["usd_per_day"]["spent"])) == spent)

    wait_until(idle, 15, "the leases given back and every call settled")
    assert workload_budget(pair[1], LEASED)["usd_per_day"] == workload_budget(
        pair[0], LEASED)["usd_per_day"]
