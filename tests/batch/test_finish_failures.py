"""A deferred call whose finish step fails (the database refuses or loses the write) is never
run again at the provider without limit, and never holds up the other calls of its job.

A unit test of the lane: a real worker, simulator and SQLite database, with failures injected
into `CallStore.finish` only; provider runs and jobs are counted by the simulator itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DataError, OperationalError

from gateway.auth import Identity
from gateway.batch import emulated
from gateway.batch.queue import MemoryQueue
from gateway.batch.records import new_call
from gateway.batch.store import TERMINAL
from gateway.batch.worker import BatchWorker
from gateway.config import build_settings
from gateway.ledger.database import Database
from gateway.providers import build_provider
from gateway.upstream import UpstreamPool
from tests.servers import SIM_KEY, ServerProcess

from .helpers import jobs_with, sim_runs

MAX_ATTEMPTS = 2
Failure = Callable[[str, dict[str, Any]], Exception | None]


def row_rejected() -> Exception:
    return DataError("INSERT INTO calls ...", {}, Exception("value out of range for type"))


def outage() -> Exception:
    return OperationalError("UPDATE batch_calls ...", {}, Exception("connection was closed"))


class Lane:
    """A worker on its own database, with `fail` deciding which finishes raise what."""

    def __init__(self, sim: ServerProcess, tmp: Path) -> None:
        self.settings = build_settings(
            {
                "database_url": f"sqlite+aiosqlite:///{tmp}/lane.db",
                "batch_lease": "1s",
                "batch_reconcile_interval": "200ms",
                "batch_poll_interval": "100ms",
                "batch_poll_max": "200ms",
                "batch_max_attempts": MAX_ATTEMPTS,
                "providers": [
                    {"name": "emu", "kind": "openai", "base_url": f"{sim.url}/v1",
                     "api_key": SIM_KEY, "batch": "emulated"},
                    {"name": "native", "kind": "openai", "base_url": f"{sim.url}/v1",
                     "api_key": SIM_KEY, "batch": "native", "batch_max_wait": "100ms"},
                ],
                "models": [
                    {"name": "emu-gpt", "provider": "emu", "upstream_model": "sim-gpt"},
                    {"name": "native-gpt", "provider": "native", "upstream_model": "sim-gpt"},
                ],
            },
            {},
        )
        self.database = Database(self.settings)
        self.providers = {p.name: build_provider(p) for p in self.settings.providers}
        self.pool = UpstreamPool()
        self.worker = BatchWorker(
            self.settings, self.database, MemoryQueue(), self.pool, self.providers, "w1"
        )
        self.finishes: list[tuple[str, str]] = []  # (call id, status) of every finish tried
        self.fail: Failure = lambda call_id, values: None
        real = self.worker.store.finish

        async def finish(call_id: str, values: dict[str, Any], *args: Any, **kw: Any) -> bool:
            self.finishes.append((call_id, values["status"]))
            error = self.fail(call_id, values)
            if error is not None:
                raise error
            return await real(call_id, values, *args, **kw)

        self.worker.store.finish = finish  # type: ignore[method-assign]

    async def defer(self, model: str, count: int) -> list[str]:
        config = self.settings.model(model)
        assert config is not None
        provider = self.providers[config.provider]
        stamp = f"{time.time_ns():x}"
        rows = [
            new_call(f"call{stamp}{i}", Identity("w"), config, provider, "chat", "openai",
                     {"model": model, "messages": [{"role": "user", "content": f"hi {i}"}]})
            for i in range(count)
        ]
        await self.worker.store.insert(rows)
        await self.worker.requeue(rows)
        return [row["id"] for row in rows]

    async def ended(self, call_ids: list[str], within: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            rows = await self.worker.store.get_many(call_ids)
            if all(rows[i].status in TERMINAL for i in call_ids):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError({i: rows[i].status for i in call_ids})
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.worker.close()
        await self.pool.close()
        await self.database.close()


@pytest.fixture
async def lane(batch_sim: ServerProcess, tmp_path: Path) -> AsyncIterator[Lane]:
    emulated_lane = Lane(batch_sim, tmp_path)
    await emulated_lane.database.ensure_ready()
    await emulated_lane.worker.start()
    yield emulated_lane
    await emulated_lane.close()


@pytest.fixture(autouse=True)
def quick_finish_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulated, "FINISH_PAUSES", (0.05, 0.1))


async def test_a_finish_the_database_refuses_ends_the_call_failed_after_one_run(
    lane: Lane, batch_sim: ServerProcess
) -> None:
    lane.fail = lambda call_id, values: row_rejected() if values["status"] == "completed" else None
    (call_id,) = await lane.defer("emu-gpt", 1)
    row = (await lane.ended([call_id]))[call_id]
    assert row.status == "failed" and "could not record" in row.error
    assert "DataError" in row.error
    assert sim_runs(batch_sim, [call_id]) == {call_id: 1}


async def test_a_finish_lost_to_an_outage_is_retried_with_the_answer_kept(
    lane: Lane, batch_sim: ServerProcess
) -> None:
    failures = iter([outage(), outage()])
    lane.fail = lambda call_id, values: next(failures, None)
    (call_id,) = await lane.defer("emu-gpt", 1)
    row = (await lane.ended([call_id]))[call_id]
    assert row.status == "completed"
    assert lane.finishes == [(call_id, "completed")] * 3
    assert sim_runs(batch_sim, [call_id]) == {call_id: 1}  # not run again


async def test_a_call_whose_finish_never_lands_runs_at_most_batch_max_attempts_times(
    lane: Lane, batch_sim: ServerProcess
) -> None:
    lane.fail = lambda call_id, values: outage() if values["status"] == "completed" else None
    (call_id,) = await lane.defer("emu-gpt", 1)
    row = (await lane.ended([call_id], within=30.0))[call_id]
    assert row.status == "failed" and f"ran {MAX_ATTEMPTS} times" in row.error
    assert sim_runs(batch_sim, [call_id]) == {call_id: MAX_ATTEMPTS}


async def test_one_item_whose_finish_fails_does_not_hold_up_its_job(
    lane: Lane, batch_sim: ServerProcess
) -> None:
    call_ids = await lane.defer("native-gpt", 4)
    refused = call_ids[1]
    lane.fail = lambda call_id, values: (
        row_rejected() if (call_id, values["status"]) == (refused, "completed") else None
    )
    rows = await lane.ended(call_ids)
    assert rows[refused].status == "failed" and "could not record" in rows[refused].error
    assert {rows[i].status for i in call_ids if i != refused} == {"completed"}
    (job,) = jobs_with(batch_sim, call_ids)  # one provider job, never submitted again
    assert sorted(job["custom_ids"]) == sorted(call_ids)
    assert (await lane.worker.jobs.due()) == []
    assert await job_status(lane, rows[refused].job_id) == "ended"


async def test_an_item_lost_to_an_outage_is_finished_at_a_later_poll_and_the_job_ends(
    lane: Lane, batch_sim: ServerProcess
) -> None:
    call_ids = await lane.defer("native-gpt", 3)
    lost = iter([outage()])
    lane.fail = lambda call_id, values: next(lost, None) if call_id == call_ids[0] else None
    rows = await lane.ended(call_ids)
    assert {rows[i].status for i in call_ids} == {"completed"}
    assert lane.finishes.count((call_ids[0], "completed")) == 2  # the second poll finished it
    assert len(jobs_with(batch_sim, call_ids)) == 1
    job_id = rows[call_ids[0]].job_id
    deadline = time.monotonic() + 10
    while await job_status(lane, job_id) != "ended":
        assert time.monotonic() < deadline, "the job never ended"
        await asyncio.sleep(0.05)


async def job_status(lane: Lane, job_id: str) -> str:
    from sqlalchemy import select

    from gateway.batch.tables import batch_jobs

    async with lane.database.engine.connect() as conn:
        query = select(batch_jobs.c.status).where(batch_jobs.c.id == job_id)
        return (await conn.execute(query)).scalar_one()
