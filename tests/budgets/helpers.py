"""Reading a gateway's budgets and its ledger's spend, and waiting for settlements."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import redis.asyncio as redis

from tests.ledger.live import wait_until
from tests.servers import ServerProcess

ADMIN = {"authorization": "Bearer admin-secret"}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def budgets(gw: ServerProcess, headers: dict[str, str] = ADMIN) -> list[dict[str, Any]]:
    response = httpx.get(f"{gw.url}/v1/gateway/budgets", headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def workload_budget(gw: ServerProcess, workload: str) -> dict[str, Any]:
    return next(b for b in budgets(gw) if b["scope"] == "workload" and b["workload"] == workload)


def ledger_spend(gw: ServerProcess, workload: str) -> tuple[Decimal, int]:
    """The ledger's spend of a workload (exact: the JSON number's text) and its call count."""
    response = httpx.get(f"{gw.url}/v1/gateway/spend", params={"group_by": "workload"},
                         headers=ADMIN, timeout=5)
    for row in response.json()["data"]:
        if row["workload"] == workload:
            return Decimal(str(row["cost_usd"])), row["requests"]
    return Decimal(0), 0


def settled(gw: ServerProcess, workload: str, calls: int, period: str = "usd_per_day") -> dict:
    """The workload's budget once `calls` calls are in the ledger and nothing is reserved."""
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(workload_budget(gw, workload))
        return found[period]["reserved"] == 0 and ledger_spend(gw, workload)[1] >= calls

    wait_until(done, 10, f"{workload}'s calls settled")
    return found


def chat(gw: ServerProcess, key: str, text: str = "hi", **body: Any) -> httpx.Response:
    return httpx.post(
        f"{gw.url}/v1/chat/completions", headers=bearer(key), timeout=10,
        json={"model": "gpt-test", "messages": [{"role": "user", "content": text}], **body},
    )


def redis_prefix() -> str:
    """A key prefix of a test's own (one hash tag, as the store's)."""
    return f"test:{{{uuid.uuid4().hex}}}:"


async def delete_prefix(url: str, prefix: str) -> None:
    """Remove what a test left in Redis under its prefix."""
    client = redis.Redis.from_url(url)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
