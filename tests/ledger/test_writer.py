"""The ledger writer against real databases: batches, idempotence, outages, spools, shutdown."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from gateway.calls import Call
from gateway.ledger.database import Database
from gateway.ledger.models import calls
from gateway.ledger.redis_spool import RedisSpool
from gateway.ledger.spool import FileSpool
from gateway.ledger.writer import LedgerWriter
from gateway.metrics import REGISTRY
from tests.ledger.helpers import Counted, make_call, make_meter, settings, wait_for


class FlakyDatabase(Database):
    """A real database whose writes fail like an unreachable server while `down`."""

    def __init__(self, settings, source: FlakyDatabase | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self._source = source
        self._down = False

    @property
    def down(self) -> bool:
        return self._source.down if self._source is not None else self._down

    @down.setter
    def down(self, value: bool) -> None:
        self._down = value

    def twin(self) -> FlakyDatabase:
        """Another engine on the same database, down when this one is: the writer's (it runs
        on a loop of its own, and an engine's connections belong to one loop)."""
        return FlakyDatabase(self.settings, source=self).shares_schema_with(self)  # type: ignore[return-value]

    async def write_calls(self, rows):  # type: ignore[no-untyped-def]
        if self.down:
            raise ConnectionRefusedError("[Errno 111] Connect call failed")
        await super().write_calls(rows)


async def stored_ids(database: Database) -> list[str]:
    async with database.engine.connect() as conn:
        return list((await conn.execute(select(calls.c.id))).scalars())


async def row_count(database: Database) -> int:
    async with database.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(calls))).scalar_one()


@pytest.fixture
async def database(db_url: str):
    db = FlakyDatabase(settings(db_url))
    await db.ensure_ready()
    yield db
    await db.close()


def writer_for(database: Database, tmp_path: Path, **options) -> LedgerWriter:  # type: ignore[no-untyped-def]
    options.setdefault("interval", 0.02)
    options.setdefault("check_interval", 0.05)
    twin = database.twin() if isinstance(database, FlakyDatabase) else database
    return LedgerWriter(twin, FileSpool(tmp_path / "ledger.spool"), **options)


async def test_every_call_is_written_once(database: FlakyDatabase, tmp_path: Path) -> None:
    writer = writer_for(database, tmp_path, batch_size=10)
    await writer.start()
    made = [make_call(database.settings) for _ in range(25)]
    for call in made:
        writer.record(call)
    writer.record(made[0])  # the same call twice (a retry upstream of the ledger)
    await wait_for(lambda: _equals(row_count(database), 25))
    await writer.close()
    assert sorted(await stored_ids(database)) == sorted(c.id for c in made)
    assert writer.pending == 0


async def test_an_outage_spools_and_the_spool_replays(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    writer = writer_for(database, tmp_path)
    await writer.start()
    database.down = True
    made = [make_call(database.settings) for _ in range(20)]
    for call in made:
        writer.record(call)
    await wait_for(lambda: _true(writer.file_spool.pending == 20))
    assert writer.pending == 20
    assert REGISTRY.get_sample_value("gateway_ledger_pending") == 20
    assert await row_count(database) == 0
    database.down = False
    await wait_for(lambda: _equals(row_count(database), 20))
    await wait_for(lambda: _true(writer.pending == 0))
    await writer.close()
    assert sorted(await stored_ids(database)) == sorted(c.id for c in made)
    assert REGISTRY.get_sample_value("gateway_ledger_pending") == 0


async def test_shutdown_spools_and_the_next_start_replays(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    writer = writer_for(database, tmp_path, interval=60)  # nothing written before close
    await writer.start()
    database.down = True
    made = [make_call(database.settings) for _ in range(5)]
    for call in made:
        writer.record(call)
    await writer.close()
    assert writer.file_spool.pending == 5
    database.down = False
    restarted = writer_for(database, tmp_path)
    assert restarted.pending == 5
    await restarted.start()
    await wait_for(lambda: _equals(row_count(database), 5))
    await restarted.close()
    assert sorted(await stored_ids(database)) == sorted(c.id for c in made)


async def test_a_full_queue_spills_to_the_spool(database: FlakyDatabase, tmp_path: Path) -> None:
    writer = writer_for(database, tmp_path, max_queue=3)
    made = [make_call(database.settings) for _ in range(10)]
    for call in made:
        writer.record(call)  # not started: past twice max_queue the writer counts as stalled
    assert writer.file_spool.pending == 4 and writer.pending == 10
    await writer.start()
    await wait_for(lambda: _equals(row_count(database), 10))
    await writer.close()
    assert sorted(await stored_ids(database)) == sorted(c.id for c in made)


async def test_redis_is_the_spool_when_configured(
    database: FlakyDatabase, tmp_path: Path, redis_server: str, redis_prefix: str
) -> None:
    spool = RedisSpool(Redis.from_url(redis_server), redis_prefix, "writer")
    # The writer owns `spool` (its client lives on the writer's loop, which closes it); the
    # test looks at the same list through a client of its own.
    probe = RedisSpool(Redis.from_url(redis_server), redis_prefix, "writer")
    writer = writer_for(database, tmp_path, redis_spool=spool)
    await writer.start()
    database.down = True
    for _ in range(6):
        writer.record(make_call(database.settings))
    await wait_for(lambda: _equals(probe.count(), 6))
    assert writer.file_spool.pending == 0
    database.down = False
    await wait_for(lambda: _equals(row_count(database), 6))
    await writer.close()
    assert await probe.count() == 0
    await probe.close()


async def test_with_redis_down_too_rows_go_to_the_file(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    dead = RedisSpool(Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5))
    writer = writer_for(database, tmp_path, redis_spool=dead)
    await writer.start()
    database.down = True
    for _ in range(4):
        writer.record(make_call(database.settings))
    await wait_for(lambda: _true(writer.file_spool.pending == 4))
    database.down = False
    await wait_for(lambda: _equals(row_count(database), 4))
    await writer.close()  # closes `dead`, which it owns


async def test_tokens_and_cost_are_counted_once_per_call(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    workload = f"metrics-{uuid.uuid4().hex[:8]}"
    labels = {"workload": workload, "model": "gen-model"}
    writer = writer_for(database, tmp_path, billing={"gen": "generated"})
    await writer.start()
    done = make_call(
        database.settings,
        model="gen-model",
        workload=workload,
        meter=make_meter([" a"] * 3, usage=(10, 3)),
    )
    cancelled = make_call(
        database.settings,
        model="gen-model",
        workload=workload,
        status="cancelled",
        meter=make_meter([" the", " model"]),
    )
    writer.record(done)
    writer.record(cancelled)
    await writer.close()

    def sample(name: str, **extra: str) -> float | None:
        return REGISTRY.get_sample_value(name, {**labels, **extra})

    assert sample("gateway_tokens_total", kind="completion") == 3 + 2
    assert sample("gateway_tokens_total", kind="cancelled") == 1  # generated: one in flight
    prompt = sample("gateway_tokens_total", kind="prompt")
    assert prompt is not None and prompt > 10
    cancelled_cost = ((prompt - 10) * 3.0 + 3 * 5.0) / 1e6
    assert sample("gateway_cancelled_cost_usd_total") == pytest.approx(cancelled_cost)
    total = cancelled_cost + (10 * 3.0 + 3 * 5.0) / 1e6
    assert sample("gateway_cost_usd_total") == pytest.approx(total)


async def test_a_row_the_database_rejects_does_not_hold_up_the_rest(
    pg_url: str, tmp_path: Path
) -> None:
    database = Database(settings(pg_url))
    writer = writer_for(database, tmp_path, interval=60)
    await writer.start()
    good = [make_call(database.settings) for _ in range(3)]
    bad = make_call(database.settings, workload="w" * 200)  # longer than the column allows
    for call in (good[0], bad, *good[1:]):
        writer.record(call)
    await writer.close()
    assert sorted(await stored_ids(database)) == sorted(c.id for c in good)
    assert writer.pending == 0
    await database.close()


async def _equals(value, expected) -> bool:  # type: ignore[no-untyped-def]
    return await value == expected


async def _true(value: bool) -> bool:
    return value


async def test_a_backlog_past_max_queue_is_spooled_in_batches_and_replayed(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    writer = writer_for(database, tmp_path, batch_size=5, max_queue=10, interval=30)
    made = [make_call(database.settings) for _ in range(19)]
    for call in made:  # the writer task is not running yet: a backlog builds up
        writer.record(call)
    assert writer.file_spool.pending == 0  # nothing spooled on the request path
    await writer.flush()
    assert writer.file_spool.pending == 9  # the oldest past max_queue went to the spool
    await writer.replay()
    await writer.close()
    assert sorted(await stored_ids(database)) == sorted(c.id for c in made)


async def test_spooled_rows_are_counted_once_not_again_when_replayed(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    workload = f"spooled-{uuid.uuid4().hex[:8]}"
    writer = writer_for(database, tmp_path)
    await writer.start()
    database.down = True
    for _ in range(3):
        writer.record(make_call(database.settings, workload=workload))
    await wait_for(lambda: _true(writer.file_spool.pending == 3))

    def spend() -> float | None:
        return REGISTRY.get_sample_value(
            "gateway_cost_usd_total", {"workload": workload, "model": "gpt-4o-mini"}
        )

    counted = spend()  # durably taken by the spool: counted
    assert counted == pytest.approx(3 * (9 * 1.0 + 2 * 2.0) / 1e6)
    database.down = False
    await wait_for(lambda: _equals(row_count(database), 3))
    await writer.close()
    assert spend() == counted



def record_calls(writer: LedgerWriter, database: Database, count: int) -> list[Call]:
    """`count` new calls, recorded at once (one burst)."""
    made = [make_call(database.settings) for _ in range(count)]
    for call in made:
        writer.record(call)
    return made


async def test_an_idle_writer_sleeps_until_a_call_arrives(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    """With nothing queued the writer's thread stays asleep (each wake-up takes the
    interpreter lock from the request loop); the first queued call wakes it."""
    writer = writer_for(database, tmp_path, interval=0.01, check_interval=30)
    flushes = writer._flush = Counted(writer._flush)  # type: ignore[method-assign]
    await writer.start()
    await asyncio.sleep(0.2)  # the start's one spool check
    before = len(flushes.calls)
    await asyncio.sleep(0.5)  # fifty intervals
    assert len(flushes.calls) - before <= 1
    made = make_call(database.settings)
    writer.record(made)  # long before the next check: only the call itself can wake it
    await wait_for(lambda: _equals(row_count(database), 1), within=5)
    await writer.close()
    assert await stored_ids(database) == [made.id]


async def test_a_burst_of_calls_is_gathered_into_one_insert(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    """The first call of a burst wakes the writer, which waits `interval` for the rest."""
    writer = writer_for(database, tmp_path, interval=0.3, check_interval=30)
    writes = Counted(writer.database.write_calls)
    writer.database.write_calls = writes  # type: ignore[method-assign, assignment]
    await writer.start()
    made = record_calls(writer, database, 10)
    await wait_for(lambda: _equals(row_count(database), 10), within=5)
    await writer.close()
    assert [len(rows) for rows, in writes.calls] == [10]
    assert sorted(await stored_ids(database)) == sorted(c.id for c in made)


async def test_a_full_batch_is_written_without_waiting_out_the_interval(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    writer = writer_for(database, tmp_path, interval=60, batch_size=5, check_interval=60)
    await writer.start()
    made = record_calls(writer, database, 5)
    await wait_for(lambda: _equals(row_count(database), 5), within=5)
    await writer.close()
    assert sorted(await stored_ids(database)) == sorted(c.id for c in made)


async def test_a_busy_writer_wakes_by_itself_not_at_each_batch(
    database: FlakyDatabase, tmp_path: Path
) -> None:
    """While calls keep coming the writer wakes once an interval on its own: `record` wakes
    it only after an interval without calls (a wake-up handed over from the request loop per
    batch would double the writer's wake-ups under load)."""
    writer = writer_for(database, tmp_path, interval=0.03, check_interval=30)
    await writer.start()
    nudges = writer._nudge = Counted(writer._nudge)  # type: ignore[method-assign]
    made = []
    for _ in range(60):  # a call every 5 ms for 0.3 s: ten intervals
        made.append(make_call(database.settings))
        writer.record(made[-1])
        await asyncio.sleep(0.005)
    await wait_for(lambda: _equals(row_count(database), 60), within=5)
    await writer.close()
    assert len(nudges.calls) <= 2  # the first call; under a loaded machine perhaps once more
    assert sorted(await stored_ids(database)) == sorted(c.id for c in made)
