"""Which deployments are cooling down: known in the process, shared through Redis when set.

In Redis a cooling deployment is a key (`gateway:cooldown:<model>/<deployment>`) whose TTL is
the rest of its cooldown. The request path reads only the process's own view: a cooldown this
process starts is written to Redis at once (off the request path), and the view is refreshed
from Redis every `REFRESH` seconds (one pipelined PTTL per deployment), so every replica skips
a deployment within about a second of one of them cooling it. Without Redis, or while it is
unreachable, each process keeps its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("gateway.routing")

PREFIX = "gateway:cooldown:"
REFRESH = 1.0
# Lengthen, never shorten: a long retry-after another replica saw outlives a short cooldown.
_EXTEND = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
"""


class Cooldowns:
    def __init__(self, redis_url: str | None) -> None:
        self._until: dict[str, float] = {}  # key -> time.monotonic() when it ends
        self._redis: Any = None
        self._extend: Any = None
        self._writes: set[asyncio.Task[None]] = set()
        self._failing = False
        if redis_url:
            from redis.asyncio import Redis  # redis-py only when Redis is used

            self._redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            self._extend = self._redis.register_script(_EXTEND)

    @property
    def shared(self) -> bool:
        return self._redis is not None

    def until(self, key: str) -> float | None:
        """When `key`'s cooldown ends (monotonic clock), or None if it is not cooling."""
        deadline = self._until.get(key)
        if deadline is None:
            return None
        if deadline <= time.monotonic():
            del self._until[key]
            return None
        return deadline

    def start(self, key: str, seconds: float) -> None:
        """Cool `key` down for `seconds` (a longer cooldown already running is kept)."""
        if seconds <= 0:
            return
        deadline = time.monotonic() + seconds
        if deadline <= self._until.get(key, 0.0):
            return
        self._until[key] = deadline
        if self._redis is not None:
            task = asyncio.ensure_future(self._write(key, seconds))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def refresh(self, keys: Sequence[str]) -> None:
        """Take in the cooldowns other processes started (no-op without Redis)."""
        if self._redis is None or not keys:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.pttl(PREFIX + key)
                remaining = await pipe.execute()
        except Exception as exc:
            self._warn(exc)
            return
        self._recovered()
        now = time.monotonic()
        for key, ms in zip(keys, remaining, strict=True):
            if isinstance(ms, int) and ms > 0 and now + ms / 1000 > self._until.get(key, 0.0):
                self._until[key] = now + ms / 1000

    async def close(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()

    async def _write(self, key: str, seconds: float) -> None:
        try:
            await self._extend(keys=[PREFIX + key], args=[max(1, int(seconds * 1000))])
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            log.warning("routing: Redis unreachable (%s); cooldowns are this process's only",
                        exc)  # fmt: skip

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("routing: Redis reachable again; cooldowns are shared")
