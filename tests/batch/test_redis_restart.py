"""Redis restarted (emptied) with calls queued: none is lost, none runs twice."""

from __future__ import annotations

from pathlib import Path

from tests.servers import ServerProcess
from tests.services import PostgresDatabases

from .helpers import (
    PrivateRedis,
    batch_config,
    defer,
    jobs_with,
    ledger_count,
    sim_runs,
    start_batch_gateway,
    start_worker,
    wait_done,
)


def queued_in(redis: PrivateRedis) -> int:
    client = redis.client()
    try:
        return sum(client.scard(key) for key in client.scan_iter(match="gateway:batch:*queued"))
    finally:
        client.close()


def test_calls_queued_before_a_redis_restart_all_run_once(
    tmp_path: Path, batch_sim: ServerProcess, postgres: PostgresDatabases
) -> None:
    redis = PrivateRedis(tmp_path)
    database = postgres.new()
    config = batch_config(batch_sim.url, database, redis.url)
    gateway = start_batch_gateway(tmp_path, config, "--no-worker")
    worker = None
    try:
        native = [defer(gateway, "native-gpt", f"kept {i}") for i in range(4)]
        emulated = [defer(gateway, "emu-gpt", f"kept {i}") for i in range(3)]
        assert queued_in(redis) == 7
        redis.restart()
        assert queued_in(redis) == 0  # Redis lost the queue; the database did not
        worker = start_worker(tmp_path, gateway)
        done = wait_done(gateway, native + emulated, 30)
        assert {r["status"] for r in done.values()} == {"completed"}
        assert ledger_count(database, native + emulated) == dict.fromkeys(native + emulated, 1)
        (job,) = jobs_with(batch_sim, native)
        assert sorted(job["custom_ids"]) == sorted(native)
        assert sim_runs(batch_sim, emulated) == dict.fromkeys(emulated, 1)

        redis.restart()  # again, under a running worker and a serving gateway
        later = [defer(gateway, "native-gpt", f"after {i}") for i in range(2)]
        later += [defer(gateway, "emu-gpt", "after")]
        done = wait_done(gateway, later, 30)
        assert {r["status"] for r in done.values()} == {"completed"}
        assert ledger_count(database, later) == dict.fromkeys(later, 1)
    finally:
        if worker is not None:
            worker.stop()
        gateway.stop()
        redis.stop()
