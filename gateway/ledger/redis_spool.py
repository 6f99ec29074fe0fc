"""Where ledger rows wait while the database is down, when Redis is configured: one list.

Replays take a Redis lock, read a batch from the head, write it, then trim it: a crash between
the write and the trim replays that batch again, which the idempotent insert absorbs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import LockError

from gateway.ledger.spool import WriteRows, decode_row, encode_row

log = logging.getLogger("gateway.ledger")

DEFAULT_PREFIX = "gateway:"  # also the default of `Ledger(redis_prefix=...)`
LOCK_SECONDS = 60.0


class RedisSpool:
    name = "redis"

    def __init__(self, redis: Redis, prefix: str = DEFAULT_PREFIX, database: str = "") -> None:
        self.redis = redis
        self.key = f"{prefix}ledger:spool:{database}".rstrip(":")  # one list per database
        self.lock_key = f"{self.key}:lock"
        self.pending = 0

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, database: str = "") -> RedisSpool:
        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        return cls(client, prefix, database)

    async def push(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.pending = await self.redis.rpush(self.key, *(encode_row(r) for r in rows))

    async def replay(self, write: WriteRows, batch_size: int) -> int:
        lock = self.redis.lock(self.lock_key, timeout=LOCK_SECONDS, blocking=False)
        if not await lock.acquire():
            return 0  # another gateway process is replaying
        written = 0
        try:
            while True:
                lines = await self.redis.lrange(self.key, 0, batch_size - 1)
                if not lines:
                    break
                rows = []
                for line in lines:
                    try:
                        rows.append(decode_row(line))
                    except ValueError:
                        log.error(
                            "ledger spool %s held a value that is not a row; skipped", self.key
                        )
                await write(rows)
                await self.redis.ltrim(self.key, len(lines), -1)
                written += len(rows)
                await lock.extend(LOCK_SECONDS, replace_ttl=True)
        finally:
            try:
                await lock.release()
            except LockError:
                log.warning("ledger spool lock %s expired during a replay", self.lock_key)
        await self.count()
        return written

    async def count(self) -> int:
        self.pending = await self.redis.llen(self.key)
        return self.pending

    async def has_rows(self) -> bool:
        return await self.count() > 0

    async def close(self) -> None:
        await self.redis.aclose()
