"""The two queues, one semantics: held until acked, `missing` ids, reclaim from the dead."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway.batch.queue import MemoryQueue
from gateway.batch.redis_queue import RedisQueue

LANE = ("sim", "gpt-test")
OTHER = ("sim", "emu-test")


@pytest.fixture
async def prefix(redis_server: str) -> AsyncIterator[str]:
    name = f"gwtest:batch:{uuid.uuid4().hex[:10]}:"
    yield name
    client = aioredis.Redis.from_url(redis_server)
    keys = [key async for key in client.scan_iter(match=name + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_memory_queue_holds_until_ack_and_knows_what_is_missing() -> None:
    queue = MemoryQueue()
    await queue.push(LANE, ["a", "b"])
    await queue.push(LANE, ["a"])  # already queued: not twice
    entries = await queue.read(10, 0.01)
    assert [e.call_id for e in entries] == ["a", "b"]
    assert await queue.read(10, 0.01) == []
    assert await queue.missing(["a", "b", "c"]) == ["c"]  # held entries are not missing
    await queue.ack(entries[:1])
    assert await queue.missing(["a", "b"]) == ["a"]
    await queue.ack(entries[1:], forget=False)  # a duplicate's ack keeps the id known
    assert await queue.missing(["b"]) == []


async def test_memory_queue_read_wakes_on_push() -> None:
    queue = MemoryQueue()
    reader = asyncio.create_task(queue.read(5, 5.0))
    await asyncio.sleep(0.01)
    await queue.push(OTHER, ["x"])
    entries = await asyncio.wait_for(reader, 1.0)
    assert [(e.lane, e.call_id) for e in entries] == [(OTHER, "x")]


async def test_redis_queue_delivers_each_entry_to_one_consumer(
    redis_server: str, prefix: str
) -> None:
    one = RedisQueue.from_url(redis_server, "one", prefix)
    two = RedisQueue.from_url(redis_server, "two", prefix)
    try:
        for queue in (one, two):
            await queue.start([LANE, OTHER])
        await one.push(LANE, [f"c{i}" for i in range(6)])
        await one.push(OTHER, ["e1"])
        first = await one.read(4, 0.1)
        second = await two.read(10, 0.1)
        got = [e.call_id for e in first + second]
        assert sorted(got) == ["c0", "c1", "c2", "c3", "c4", "c5", "e1"]
        assert len(set(got)) == len(got)
        assert await one.missing(["c0", "zz"]) == ["zz"]
        await one.ack(first)
        assert sorted(await one.missing([e.call_id for e in first])) == sorted(
            e.call_id for e in first
        )
    finally:
        await one.close()
        await two.close()


async def test_redis_queue_hands_a_dead_consumers_entries_to_another(
    redis_server: str, prefix: str
) -> None:
    dead = RedisQueue.from_url(redis_server, "dead", prefix)
    alive = RedisQueue.from_url(redis_server, "alive", prefix)
    try:
        await dead.start([LANE])
        await alive.start([LANE])
        await dead.push(LANE, ["x", "y"])
        taken = await dead.read(10, 0.1)
        assert len(taken) == 2
        assert await alive.reclaim(idle=0.2) == []  # not idle long enough yet
        await asyncio.sleep(0.3)
        await dead.touch(taken[:1])  # still working on x
        reclaimed = await alive.reclaim(idle=0.2)
        assert [e.call_id for e in reclaimed] == ["y"]
        await alive.ack(reclaimed)
        assert await alive.read(10, 0.05) == []
    finally:
        await dead.close()
        await alive.close()


async def test_redis_queue_recreates_its_streams_after_they_are_lost(
    redis_server: str, prefix: str
) -> None:
    queue = RedisQueue.from_url(redis_server, "solo", prefix)
    try:
        await queue.start([LANE])
        await queue.push(LANE, ["a"])
        await queue.redis.delete(queue.stream(LANE), queue.members)  # as after a restart
        assert await queue.read(10, 0.05) == []  # NOGROUP: groups made again
        assert await queue.missing(["a"]) == ["a"]
        await queue.push(LANE, ["a"])
        assert [e.call_id for e in await queue.read(10, 0.1)] == ["a"]
    finally:
        await queue.close()
