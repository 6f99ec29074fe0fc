"""The emulated lane starts no call while the provider's interactive calls reach the limit."""

from __future__ import annotations

import asyncio

from gateway.batch.emulated import yield_to_interactive
from gateway.config import ProviderConfig
from gateway.providers import build_provider


def provider(limit: int):  # type: ignore[no-untyped-def]
    config = ProviderConfig(
        name="p",
        kind="openai",
        base_url="http://127.0.0.1:9/v1",
        batch="emulated",
        batch_yield_inflight=limit,
    )
    return build_provider(config)


async def test_waits_while_interactive_traffic_is_high_then_goes() -> None:
    busy = provider(limit=2)
    busy.in_flight = 2  # what the proxy counts for live calls
    waiting = asyncio.create_task(yield_to_interactive(busy))
    await asyncio.sleep(0.15)
    assert not waiting.done()
    busy.in_flight = 1
    await asyncio.wait_for(waiting, 1.0)


async def test_a_quiet_provider_or_no_limit_never_waits() -> None:
    quiet = provider(limit=2)
    quiet.in_flight = 1
    await asyncio.wait_for(yield_to_interactive(quiet), 0.05)
    unlimited = provider(limit=0)
    unlimited.in_flight = 500
    await asyncio.wait_for(yield_to_interactive(unlimited), 0.05)
