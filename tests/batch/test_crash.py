"""A `gateway worker` killed (SIGKILL) in the middle of the work, and another started: every
call is answered and billed exactly once (ledger rows counted in Postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ServerProcess
from tests.services import PostgresDatabases

from .conftest import forget_queue
from .helpers import (
    batch_config,
    defer,
    jobs_with,
    ledger_count,
    provider,
    record,
    sim_runs,
    start_batch_gateway,
    start_worker,
    wait_done,
    wait_until,
)


@pytest.fixture
def setup(
    tmp_path: Path, batch_sim: ServerProcess, postgres: PostgresDatabases, redis_server: str
) -> Iterator[tuple[ServerProcess, str, list[ServerProcess]]]:
    """An API-only gateway (`--no-worker`) on its own database; workers are the test's."""
    database = postgres.new()
    config = batch_config(batch_sim.url, database, redis_server)
    provider(config, "sim-batch").update(batch_max_items=6, batch_max_wait="30s")
    gateway = start_batch_gateway(tmp_path, config, "--no-worker")
    workers: list[ServerProcess] = []
    yield gateway, database, workers
    for process in [*workers, gateway]:
        process.stop()
    forget_queue(redis_server, database)


def kill(worker: ServerProcess) -> None:
    worker.proc.kill()
    worker.proc.wait(timeout=10)


def test_killed_while_its_provider_job_runs(
    setup: tuple[ServerProcess, str, list[ServerProcess]],
    batch_sim: ServerProcess,
    tmp_path: Path,
) -> None:
    gateway, database, workers = setup
    workers.append(start_worker(tmp_path, gateway, "first"))
    ids = [defer(gateway, "native-gpt", f"crash {i} [sim batch_delay_ms=3000]") for i in range(6)]
    wait_until(lambda: jobs_with(batch_sim, ids), 10, "the provider job")
    wait_until(
        lambda: all(record(gateway, i)["status"] == "submitted" for i in ids),
        5,
        "the job to be recorded",
    )
    kill(workers[0])
    (job,) = jobs_with(batch_sim, ids)
    assert set(job["custom_ids"]) == set(ids) and job["status"] != "completed"
    workers.append(start_worker(tmp_path, gateway, "second"))
    done = wait_done(gateway, ids, 30)
    assert {r["status"] for r in done.values()} == {"completed"}
    assert all(r["response"]["object"] == "chat.completion" for r in done.values())
    assert ledger_count(database, ids) == dict.fromkeys(ids, 1)
    assert len(jobs_with(batch_sim, ids)) == 1  # the job was polled again, never resubmitted
    assert all(r["batch_savings_usd"] > 0 for r in done.values())


def test_killed_while_running_emulated_calls(
    setup: tuple[ServerProcess, str, list[ServerProcess]],
    batch_sim: ServerProcess,
    tmp_path: Path,
) -> None:
    gateway, database, workers = setup
    workers.append(start_worker(tmp_path, gateway, "first"))
    ids = [defer(gateway, "emu-gpt", f"slow {i} [sim tokens=30 tps=15]") for i in range(4)]
    wait_until(lambda: sum(sim_runs(batch_sim, ids).values()) >= 2, 10, "two calls running")
    started = {i for i, n in sim_runs(batch_sim, ids).items() if n}
    kill(workers[0])
    assert all(record(gateway, i)["status"] in ("running", "queued") for i in ids)
    workers.append(start_worker(tmp_path, gateway, "second"))
    done = wait_done(gateway, ids, 40)
    assert {r["status"] for r in done.values()} == {"completed"}
    assert ledger_count(database, ids) == dict.fromkeys(ids, 1)
    runs = sim_runs(batch_sim, ids)
    assert all(runs[i] == 2 for i in started)  # cut off, run again after the lease lapsed
    assert all(runs[i] == 1 for i in set(ids) - started)
