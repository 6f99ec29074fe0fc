"""The ledger's counters (`gateway_tokens_total`, `gateway_cost_usd_total`, ...) add up across
`--workers 2` to what the ledger holds, whichever worker a scrape lands on; so do the
dashboard's measured figures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.ops.conftest import ops_config
from tests.ops.traffic import (
    HELLO,
    admin_get,
    cancel_stream,
    metric_sum,
    sdk,
    wait_for_ledger,
)
from tests.servers import ServerProcess, start_gateway

SCRAPES = 8  # scrapes land on either worker; each must see the whole server


def workers_that_served(metrics_dir: Path) -> set[str]:
    """Pids whose own metric file counts at least one finished call."""
    pids = set()
    for path in metrics_dir.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(path)]):
            if family.name == "gateway_requests" and any(s.value for s in family.samples):
                pids.add(path.stem.removeprefix("counter_"))
    return pids


def one_call(url: str, index: int) -> None:
    if index % 2:
        sdk(url, "key-etl").chat.completions.create(model="gpt-test", messages=HELLO)
    else:
        chat = sdk(url, "key-chat")
        list(chat.chat.completions.create(model="gpt-test", stream=True, messages=HELLO))


def spread_traffic(server: ServerProcess, metrics_dir: Path) -> int:
    """Concurrent calls on fresh connections until both workers have served some."""
    made = 0
    with ThreadPoolExecutor(6) as pool:
        for _ in range(8):
            list(pool.map(one_call, [server.url] * 6, range(6)))
            made += 6
            if len(workers_that_served(metrics_dir)) == 2:
                return made
    raise AssertionError("every call landed on one worker")


def test_ledger_counters_add_up_across_workers(tmp_path, sim) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    server = start_gateway(
        tmp_path,
        ops_config(sim.url),
        "--workers",
        "2",
        env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
    )
    try:
        made = spread_traffic(server, metrics_dir)
        cancel_stream(sdk(server.url, "key-chat"))
        cancel_stream(sdk(server.url, "key-etl"))
        wait_for_ledger(server.url, made + 2, cancelled=2)
        rows = admin_get(server.url, "/v1/gateway/spend", group_by="workload,model")["data"]
        assert {row["workload"] for row in rows} == {"chat-ui", "etl"}
        for _ in range(SCRAPES):
            text = httpx.get(f"{server.url}/metrics", timeout=5).text
            for row in rows:
                labels = {"workload": row["workload"], "model": row["model"]}

                def total(name: str, labels=labels, text=text, **extra: str) -> float:
                    return metric_sum(text, name, **labels, **extra)

                assert total("gateway_requests_total") == row["requests"]
                assert total("gateway_tokens_total", kind="prompt") == row["prompt_tokens"]
                completion = total("gateway_tokens_total", kind="completion")
                assert completion == row["completion_tokens"]
                cancelled = total("gateway_tokens_total", kind="cancelled")
                assert cancelled == row["cancelled_completion_tokens"] == 1
                assert total("gateway_cost_usd_total") == pytest.approx(row["cost_usd"])
                cancelled_cost = total("gateway_cancelled_cost_usd_total")
                assert cancelled_cost == pytest.approx(row["cancelled_cost_usd"])
            assert metric_sum(text, "gateway_upstream_abort_seconds_count") == 2
            assert metric_sum(text, "gateway_ledger_pending") == 0
        ttft_count = metric_sum(text, "gateway_time_to_first_token_seconds_count")
        assert ttft_count == made + 2
        for _ in range(4):
            figures = admin_get(server.url, "/v1/gateway/dashboard")
            assert figures["workers"] == 2 and figures["totals"]["requests"] == made + 2
            (ttft,) = figures["metrics"]["time_to_first_token_seconds"]
            assert ttft["count"] == ttft_count
            (abort,) = figures["metrics"]["upstream_abort_seconds"]
            assert abort["count"] == 2
    finally:
        server.stop()
