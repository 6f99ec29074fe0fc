"""Two gateway processes, each with its worker, on one Redis and one database: no call is run
or billed twice (provider jobs and simulator requests counted, ledger rows counted)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.servers import ServerProcess
from tests.services import PostgresDatabases

from .conftest import forget_queue
from .helpers import (
    batch_config,
    defer,
    jobs_with,
    ledger_count,
    provider,
    sim_runs,
    start_batch_gateway,
    wait_done,
)


def test_two_gateways_share_the_work_and_never_double_it(
    tmp_path: Path, batch_sim: ServerProcess, postgres: PostgresDatabases, redis_server: str
) -> None:
    database = postgres.new()
    config = batch_config(batch_sim.url, database, redis_server)
    provider(config, "sim-batch").update(batch_max_items=5)
    gateways = [start_batch_gateway(tmp_path, dict(config)) for _ in range(2)]
    try:
        native = [defer(gateways[i % 2], "native-gpt", f"two {i}") for i in range(15)]
        emulated = [defer(gateways[i % 2], "emu-gpt", f"two {i}") for i in range(8)]
        everything = native + emulated
        done = wait_done(gateways[0], everything, 40)
        assert {r["status"] for r in done.values()} == {"completed"}
        assert ledger_count(database, everything) == dict.fromkeys(everything, 1)
        carried = Counter(c for job in jobs_with(batch_sim, native) for c in job["custom_ids"])
        assert carried == Counter(native)  # every native call in exactly one provider job
        assert all(len(job["custom_ids"]) <= 5 for job in jobs_with(batch_sim, native))
        assert sim_runs(batch_sim, emulated) == dict.fromkeys(emulated, 1)
        assert jobs_with(batch_sim, emulated) == []
    finally:
        for gateway in gateways:
            gateway.stop()
        forget_queue(redis_server, database)
