"""Metrics: the SPEC's names are exported, and counts stay right under `--workers N`."""

from __future__ import annotations

import re

import httpx
import openai

from tests.servers import gateway_config, start_gateway


def metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_request_path_metrics_are_exported(client: openai.OpenAI, gateway) -> None:
    client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
    list(client.chat.completions.create(model="gpt-test", stream=True,
                                        messages=[{"role": "user", "content": "x"}]))
    text = httpx.get(f"{gateway.url}/metrics").text
    for name in ("gateway_requests_total", "gateway_time_to_first_token_seconds_bucket",
                 "gateway_output_tokens_per_second_bucket", "gateway_overhead_seconds_bucket",
                 "gateway_ledger_pending", "gateway_event_loop_lag_seconds_bucket"):
        assert re.search(rf"^{name}", text, re.M), name
    assert metric_sum(text, "gateway_event_loop_lag_seconds_count") > 0  # the probe ticks
    assert metric_sum(text, "gateway_requests_total", workload="chat-ui", mode="stream",
                      status="completed") >= 1


def test_counts_add_up_across_workers(tmp_path, sim) -> None:
    server = start_gateway(tmp_path, gateway_config(sim.url), "--workers", "2")
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="key-etl", max_retries=0)
        for _ in range(12):
            client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "hi [sim ttft_ms=0]"}])
        for _ in range(6):  # scrapes land on either worker; each must see the whole server
            response = httpx.get(f"{server.url}/metrics")
            assert metric_sum(response.text, "gateway_requests_total", workload="etl") == 12
    finally:
        server.stop()


def test_metrics_token_guards_the_endpoint(tmp_path, sim) -> None:
    server = start_gateway(tmp_path, gateway_config(sim.url, metrics_token="scrape-secret"))
    try:
        refused = httpx.get(f"{server.url}/metrics")
        assert refused.status_code == 401
        assert "metrics_token" in refused.json()["error"]["message"]
        assert "gateway_" not in refused.text
        wrong = httpx.get(f"{server.url}/metrics", headers={"authorization": "Bearer key-chat"})
        assert wrong.status_code == 401  # a workload key is not enough
        for key in ("scrape-secret", "admin-secret"):
            scraped = httpx.get(f"{server.url}/metrics", headers={"authorization": f"Bearer {key}"})
            assert scraped.status_code == 200 and "gateway_ledger_pending" in scraped.text
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # probes stay open
    finally:
        server.stop()
    assert "scrape-secret" not in server.output()
