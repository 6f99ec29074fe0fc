"""The batch queue in Redis: one stream per lane, one consumer group, a set of queued ids.

Entries are `{id: call_id}`. A worker reads with XREADGROUP (entries stay pending, held by
it), XACKs (and XDELs) an entry once the call's outcome is durable in the database, touches
(XCLAIM to itself) the entries it keeps buffered, and takes over with XAUTOCLAIM the entries a
dead worker held past the lease. `{prefix}queued` says which calls have an entry, so the
worker can push again what a restarted (emptied) Redis lost. Keys carry the database's tag:
gateways on different databases can share one Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from gateway.batch.queue import Entry, Lane

GROUP = "workers"


class RedisQueue:
    def __init__(self, redis: Redis, consumer: str, prefix: str) -> None:
        self.redis = redis
        self.consumer = consumer
        self.prefix = prefix
        self.members = f"{prefix}queued"
        self._lanes: dict[str, Lane] = {}

    @classmethod
    def from_url(cls, url: str, consumer: str, prefix: str) -> RedisQueue:
        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        return cls(client, consumer, prefix)

    def stream(self, lane: Lane) -> str:
        key = f"{self.prefix}lane:{lane[0]}:{lane[1]}"
        self._lanes.setdefault(key, lane)
        return key

    async def start(self, lanes: Iterable[Lane]) -> None:
        for lane in lanes:
            self.stream(lane)
        await self._create_groups()

    async def _create_groups(self) -> None:
        for key in self._lanes:
            try:
                await self.redis.xgroup_create(key, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def push(self, lane: Lane, call_ids: Sequence[str]) -> None:
        if not call_ids:
            return
        key = self.stream(lane)
        async with self.redis.pipeline(transaction=True) as pipe:
            for call_id in call_ids:
                pipe.xadd(key, {"id": call_id})
            pipe.sadd(self.members, *call_ids)
            await pipe.execute()

    async def read(self, count: int, wait: float) -> list[Entry]:
        if not self._lanes:
            return []
        streams: dict[Any, Any] = dict.fromkeys(self._lanes, ">")
        try:
            reply = await self.redis.xreadgroup(
                GROUP, self.consumer, streams, count=count, block=max(1, int(wait * 1000))
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._create_groups()  # Redis restarted empty: the streams are gone
            return []
        return [
            entry for key, messages in _streams(reply) for entry in self._entries(key, messages)
        ]

    async def ack(self, entries: Sequence[Entry], *, forget: bool = True) -> None:
        if not entries:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                key = self.stream(entry.lane)
                pipe.xack(key, GROUP, entry.token)
                pipe.xdel(key, entry.token)
            if forget:
                pipe.srem(self.members, *(entry.call_id for entry in entries))
            await pipe.execute()

    async def touch(self, entries: Sequence[Entry]) -> None:
        by_stream: dict[str, list[Any]] = {}
        for entry in entries:
            by_stream.setdefault(self.stream(entry.lane), []).append(entry.token)
        for key, tokens in by_stream.items():
            await self.redis.xclaim(key, GROUP, self.consumer, 0, tokens, justid=True)

    async def reclaim(self, idle: float) -> list[Entry]:
        taken: list[Entry] = []
        for key in list(self._lanes):
            try:
                reply = await self.redis.xautoclaim(
                    key, GROUP, self.consumer, int(idle * 1000), "0-0", count=500
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._create_groups()
                continue
            taken.extend(self._entries(key, reply[1]))
        return taken

    async def missing(self, call_ids: Sequence[str]) -> list[str]:
        if not call_ids:
            return []
        present = await self.redis.smismember(self.members, list(call_ids))
        return [call_id for call_id, there in zip(call_ids, present, strict=True) if not there]

    async def close(self) -> None:
        await self.redis.aclose()

    def _entries(self, key: Any, messages: Any) -> list[Entry]:
        name = key.decode() if isinstance(key, bytes) else str(key)
        lane = self._lanes.get(name)
        entries = []
        for token, fields in messages or ():
            call_id = (fields or {}).get(b"id")
            if lane is not None and call_id is not None:
                entries.append(Entry(lane, call_id.decode(), _text(token)))
        return entries


def _streams(reply: Any) -> list[tuple[Any, Any]]:
    """XREADGROUP's [[stream, [(id, fields), ...]], ...] (RESP2), or nothing."""
    return [(key, messages) for key, messages in reply or ()]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
