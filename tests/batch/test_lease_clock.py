"""Leases, poll slots and delivery claims are stamped and compared in the database's clock:
a worker whose host clock is an hour off neither steals another's live lease nor has its own
stolen (against real SQLite and Postgres; the offset host's clock is `time.time` patched)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.batch.jobs import JobStore
from gateway.batch.store import QUEUED, RUNNING, CallStore
from gateway.config import build_settings
from gateway.ledger.database import Database, now
from gateway.ledger.models import complete_row

HOUR = 3600.0
LEASE = 30.0


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/clock.db"
    return request.getfixturevalue("postgres").new()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(build_settings({"database_url": database_url}, {}))
    await db.ensure_ready()
    yield db
    await db.close()


class Clock:
    """This host's clock, `offset` seconds away from the database's."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.real = time.time

    def skew(self, offset: float) -> None:
        real = self.real
        self.monkeypatch.setattr(time, "time", lambda: real() + offset)

    def reset(self) -> None:
        self.monkeypatch.setattr(time, "time", self.real)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    yield Clock(monkeypatch)


def call_row(call_id: str, **extra: Any) -> dict[str, Any]:
    moment = now()
    return {
        "id": call_id, "workload": "w", "model": "m", "provider": "p", "route": "chat",
        "shape": "openai", "lane": "emulated", "status": QUEUED, "body": {}, "attempts": 0,
        "delivery_attempts": 0, "created_at": moment, "updated_at": moment, **extra,
    }


@pytest.mark.parametrize("offset", [HOUR, -HOUR])
async def test_a_running_calls_lease_is_never_taken_by_a_worker_with_another_clock(
    database: Database, clock: Clock, offset: float
) -> None:
    store = CallStore(database)
    await store.insert([call_row("c1")])
    clock.skew(offset)  # worker A claims on its own host ...
    claimed = await store.claim_running("c1", "worker-a", LEASE)
    assert claimed is not None and claimed.status == RUNNING
    await store.extend_leases("worker-a", LEASE, ["c1"])
    clock.skew(-offset)  # ... worker B, whose clock disagrees by two hours, reconciles
    assert await store.release_expired() == []
    assert (await store.get("c1")).owner == "worker-a"  # type: ignore[union-attr]


@pytest.mark.parametrize("offset", [HOUR, -HOUR])
async def test_a_submitting_jobs_lease_and_its_poll_slot_follow_the_database_clock(
    database: Database, clock: Clock, offset: float
) -> None:
    calls, jobs = CallStore(database), JobStore(database)
    await calls.insert([call_row("c1"), call_row("c2")])
    clock.skew(offset)
    assert [row.id for row in await jobs.open("j1", ("p", "m"), ["c1"], "worker-a", LEASE)]
    await jobs.extend_leases("worker-a", LEASE)
    clock.skew(-offset)
    assert await jobs.abandoned() == []  # not taken over while worker A is submitting it
    clock.skew(offset)
    assert await jobs.submitted("j1", "batch_1", first_poll=60.0)
    clock.skew(-offset)
    assert await jobs.due() == []  # its first poll is a minute away in every worker's eyes
    clock.reset()
    assert await jobs.open("j2", ("p", "m"), ["c2"], "worker-a", 0.0)
    (abandoned,) = await jobs.abandoned()  # a lapsed lease is still seen as lapsed
    assert abandoned.id == "j2"


@pytest.mark.parametrize("offset", [HOUR, -HOUR])
async def test_a_claimed_delivery_is_held_in_the_database_clock(
    database: Database, clock: Clock, offset: float
) -> None:
    store = CallStore(database)
    await store.insert([call_row("c1", callback_url="https://hooks.example/x")])
    await store.claim_running("c1", "worker-a", LEASE)
    row = {"id": "c1", "workload": "w", "model": "m", "provider": "p", "route": "chat",
           "mode": "batch", "status": "completed", "created_at": now()}
    assert await store.finish(
        "c1", {"status": "completed", "http_status": 200, "error": None},
        _ledger_row(row), expect=RUNNING, owner="worker-a",
    )
    (due,) = await store.due_deliveries()  # due at once
    clock.skew(offset)
    assert await store.claim_delivery(due.id, due.next_delivery_at, hold=60.0)
    clock.skew(-offset)
    assert await store.due_deliveries() == []  # held for a minute, whatever this host says
    clock.skew(offset)
    await store.record_delivery("c1", "pending", 1, 3600.0, "the receiver answered HTTP 500")
    clock.skew(-offset)
    assert await store.due_deliveries() == []  # the retry is an hour away


def _ledger_row(base: dict[str, Any]) -> dict[str, Any]:
    """A minimal ledger row (the writer's columns, zero tokens)."""
    return complete_row({
        **base, "http_status": 200, "prompt_tokens": 0, "completion_tokens": 0,
        "billed_completion_tokens": 0, "token_source": "usage", "price_input": 0.0,
        "price_output": 0.0, "cost_usd": 0.0, "cancelled_cost_usd": 0.0,
        "batch_savings_usd": 0.0, "ttft_ms": None, "duration_ms": None,
        "abort_latency_ms": None, "cancel_reason": None, "error": None, "key_id": None,
        "finished_at": now(), "response": None,
    })
