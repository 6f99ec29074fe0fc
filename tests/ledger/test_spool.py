"""The spools rows wait in while the database is down: a local file, or a Redis list."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.ledger.redis_spool import RedisSpool
from gateway.ledger.spool import FileSpool, Rows
from tests.ledger.helpers import utc


def rows(start: int, count: int) -> Rows:
    return [
        {
            "id": f"{i:032x}",
            "created_at": utc(2025, 1, 1, 12),
            "finished_at": None,
            "cost_usd": 0.5,
            "response": {"n": i},
        }
        for i in range(start, start + count)
    ]


class Sink:
    """A `write` that stores rows, or fails while `broken`."""

    def __init__(self) -> None:
        self.rows: Rows = []
        self.broken = False

    async def __call__(self, batch: Rows) -> None:
        if self.broken:
            raise ConnectionError("database down")
        self.rows.extend(batch)


async def test_file_spool_replays_every_row_in_order(tmp_path: Path) -> None:
    spool = FileSpool(tmp_path / "ledger.spool")
    await spool.push(rows(0, 3))
    spool.push_now(rows(3, 4))
    assert spool.pending == 7 and await spool.has_rows()
    sink = Sink()
    assert await spool.replay(sink, batch_size=3) == 7
    assert [r["id"] for r in sink.rows] == [r["id"] for r in rows(0, 7)]
    assert sink.rows[0]["created_at"] == utc(2025, 1, 1, 12)  # timestamps come back as such
    assert sink.rows[0]["response"] == {"n": 0}
    assert spool.pending == 0 and not await spool.has_rows()
    assert await spool.replay(sink, batch_size=3) == 0


async def test_file_spool_keeps_rows_when_the_write_fails(tmp_path: Path) -> None:
    spool = FileSpool(tmp_path / "ledger.spool")
    await spool.push(rows(0, 5))
    sink = Sink()
    sink.broken = True
    with pytest.raises(ConnectionError):
        await spool.replay(sink, batch_size=2)
    await spool.push(rows(5, 1))  # appended while a replay file is set aside
    assert spool.pending == 6
    sink.broken = False
    assert await spool.replay(sink, batch_size=2) == 5  # the set-aside file first
    assert await spool.replay(sink, batch_size=2) == 1
    assert sorted(r["id"] for r in sink.rows) == [r["id"] for r in rows(0, 6)]


async def test_a_new_process_sees_and_replays_an_old_spool(tmp_path: Path) -> None:
    FileSpool(tmp_path / "ledger.spool").push_now(rows(0, 4))
    path = tmp_path / "ledger.spool"
    path.write_bytes(path.read_bytes() + b'{"id": "cut short by a cra')  # a crash mid-append
    restarted = FileSpool(tmp_path / "ledger.spool")
    assert restarted.pending == 5
    sink = Sink()
    assert await restarted.replay(sink, batch_size=10) == 4
    assert len(sink.rows) == 4


async def test_only_one_process_replays_a_spool_at_a_time(tmp_path: Path) -> None:
    first = FileSpool(tmp_path / "ledger.spool")
    second = FileSpool(tmp_path / "ledger.spool")
    first.push_now(rows(0, 3))
    seen: list[int] = []

    async def write_and_race(batch: Rows) -> None:
        seen.append(await second.replay(Sink(), batch_size=10))  # blocked: first holds it
        seen.append(len(batch))

    assert await first.replay(write_and_race, batch_size=10) == 3
    assert seen == [0, 3]


@pytest.fixture
async def redis_spool(redis_server: str, redis_prefix: str):
    spool = RedisSpool(Redis.from_url(redis_server), redis_prefix, "db1")
    yield spool
    await spool.close()


async def test_redis_spool_replays_and_trims(redis_spool: RedisSpool, redis_prefix: str) -> None:
    assert redis_spool.key == f"{redis_prefix}ledger:spool:db1"
    await redis_spool.push(rows(0, 5))
    assert await redis_spool.count() == 5 and await redis_spool.has_rows()
    sink = Sink()
    assert await redis_spool.replay(sink, batch_size=2) == 5
    assert [r["id"] for r in sink.rows] == [r["id"] for r in rows(0, 5)]
    assert sink.rows[0]["created_at"] == utc(2025, 1, 1, 12)
    assert await redis_spool.count() == 0


async def test_redis_spool_keeps_rows_when_the_write_fails(redis_spool: RedisSpool) -> None:
    await redis_spool.push(rows(0, 5))
    sink = Sink()
    calls = 0

    async def fail_second_batch(batch: Rows) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("database down")
        await sink(batch)

    with pytest.raises(ConnectionError):
        await redis_spool.replay(fail_second_batch, batch_size=2)
    assert await redis_spool.count() == 3  # the first batch was written and trimmed
    assert await redis_spool.replay(sink, batch_size=2) == 3
    assert sorted(r["id"] for r in sink.rows) == [r["id"] for r in rows(0, 5)]


async def test_redis_spool_replays_in_one_process_at_a_time(redis_spool: RedisSpool) -> None:
    await redis_spool.push(rows(0, 2))
    lock = redis_spool.redis.lock(redis_spool.lock_key, timeout=5)
    assert await lock.acquire()
    try:
        assert await redis_spool.replay(Sink(), batch_size=10) == 0
    finally:
        await lock.release()
    assert await redis_spool.replay(Sink(), batch_size=10) == 2


async def test_spools_of_different_databases_are_apart(
    redis_server: str, redis_prefix: str
) -> None:
    one = RedisSpool(Redis.from_url(redis_server), redis_prefix, "db-one")
    two = RedisSpool(Redis.from_url(redis_server), redis_prefix, "db-two")
    try:
        await one.push(rows(0, 2))
        assert await two.count() == 0
        assert await two.replay(Sink(), batch_size=10) == 0
        assert await one.count() == 2
    finally:
        await one.close()
        await two.close()
