"""Cooldowns shared through Redis (two views, as two replicas would have), and without it."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest

from gateway.routing.cooldown import Cooldowns
from tests.servers import free_port


def test_a_cooldown_started_by_one_process_is_seen_by_another(redis_server: str) -> None:
    key = f"m/{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[float | None, float | None, float | None]:
        one, two = Cooldowns(redis_server), Cooldowns(redis_server)
        try:
            one.start(key, 30)
            await asyncio.gather(*one._writes)
            seen = two.until(key)  # not before its refresh
            await two.refresh([key])
            after = two.until(key)
            two.start(key, 5)  # shorter than what runs: keeps the 30 s
            await asyncio.gather(*two._writes)
            three = Cooldowns(redis_server)
            await three.refresh([key])
            kept = three.until(key)
            await three.close()
            return seen, after, kept
        finally:
            await one.close()
            await two.close()

    seen, after, kept = asyncio.run(scenario())
    now = time.monotonic()
    assert seen is None
    assert after is not None and 25 < after - now <= 30
    assert kept is not None and kept - now > 25


def test_without_redis_or_while_it_is_down_cooldowns_stay_in_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> tuple[bool, bool]:
        local = Cooldowns(None)
        local.start("m/a", 10)
        down = Cooldowns(f"redis://127.0.0.1:{free_port()}/0")
        down.start("m/b", 10)
        await down.refresh(["m/b"])
        await down.refresh(["m/b"])
        cooling = local.until("m/a") is not None and down.until("m/b") is not None
        await down.close()
        return cooling, local.shared

    with caplog.at_level(logging.WARNING, "gateway.routing"):
        cooling, shared = asyncio.run(scenario())
    assert cooling and not shared
    assert len([r for r in caplog.records if "Redis unreachable" in r.message]) == 1
