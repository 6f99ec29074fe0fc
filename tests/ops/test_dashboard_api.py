"""The dashboard's data endpoint: admin only, figures equal to the spend API and /metrics."""

from __future__ import annotations

import httpx
import pytest

from gateway.metric_summary import quantile
from tests.ops.traffic import ADMIN_KEY, admin_get, metric_sum, spend_by_workload

DATA = "/v1/gateway/dashboard"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer key-chat"},
        {"Authorization": "Bearer wrong"},
        {"x-api-key": "key-etl"},
    ],
    ids=["no key", "workload key", "wrong key", "workload x-api-key"],
)
def test_data_needs_the_admin_key(busy_gateway, headers) -> None:
    response = httpx.get(busy_gateway.url + DATA, headers=headers, timeout=5)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "authentication_error"
    assert "workloads" not in response.text and "cost" not in response.text


def test_page_shell_holds_no_figures(busy_gateway) -> None:
    for path in ("/dashboard", "/dashboard/dashboard.js", "/dashboard/dashboard.css"):
        response = httpx.get(busy_gateway.url + path, timeout=5)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
    page = httpx.get(busy_gateway.url + "/dashboard", timeout=5).text
    assert "chat-ui" not in page and "$" not in page and 'id="admin-key"' in page
    assert httpx.get(busy_gateway.url + "/dashboard/nope.js", timeout=5).status_code == 404


def test_spend_split_matches_the_spend_api(busy_gateway) -> None:
    data = admin_get(busy_gateway.url, DATA)
    spend = spend_by_workload(busy_gateway.url)
    shown = {row["workload"]: row for row in data["workloads"]}
    assert set(shown) == set(spend) == {"chat-ui", "etl"}
    for workload, row in spend.items():
        split = shown[workload]
        for field in (
            "requests",
            "completed",
            "cancelled",
            "failed",
            "cost_usd",
            "cancelled_cost_usd",
            "batch_savings_usd",
            "cancelled_completion_tokens",
        ):
            assert split[field] == row[field], (workload, field)
        completed = split["completed_cost_usd"]
        assert completed == pytest.approx(row["cost_usd"] - row["cancelled_cost_usd"], abs=1e-9)
    assert shown["chat-ui"]["cancelled"] == 1 and shown["chat-ui"]["cancelled_cost_usd"] > 0
    assert shown["chat-ui"]["cancelled_completion_tokens"] == 1  # billing `generated`: +1
    assert data["totals"]["requests"] == 7
    assert data["totals"]["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in spend.values()))


def test_measured_figures_match_the_metrics(busy_gateway) -> None:
    data = admin_get(busy_gateway.url, DATA)["metrics"]
    text = httpx.get(busy_gateway.url + "/metrics", timeout=5).text
    (ttft,) = [row for row in data["time_to_first_token_seconds"] if row["model"] == "gpt-test"]
    count = metric_sum(text, "gateway_time_to_first_token_seconds_count", model="gpt-test")
    total = metric_sum(text, "gateway_time_to_first_token_seconds_sum", model="gpt-test")
    assert ttft["count"] == count >= 2
    assert ttft["mean"] == pytest.approx(total / count)
    assert 0.005 < ttft["p50"] < 0.5  # the simulator answers after 20 ms
    (tps,) = data["output_tokens_per_second"]
    assert tps["model"] == "gpt-test" and 20 < tps["p50"] < 1000  # it streams 200 tokens/s
    (abort,) = data["upstream_abort_seconds"]
    assert abort["provider"] == "sim" and abort["count"] == 1
    assert abort["count"] == metric_sum(text, "gateway_upstream_abort_seconds_count")
    assert data["ledger_pending"] == 0
    assert data["batch_queue_depth"] == [
        {"provider": r["provider"], "model": r["model"], "value": r["value"]}
        for r in data["batch_queue_depth"]
    ]


def test_deployments_are_those_of_the_deployments_api(busy_gateway) -> None:
    shown = admin_get(busy_gateway.url, DATA)["deployments"]
    served = admin_get(busy_gateway.url, "/v1/gateway/deployments")["data"]
    assert [(r["model"], r["deployment"], r["health"]) for r in shown] == [
        (r["model"], r["deployment"], r["health"]) for r in served]
    (chat,) = [r for r in served if r["model"] == "gpt-test"]
    assert (chat["deployment"], chat["provider"], chat["upstream_model"]) == (
        "sim/sim-gpt", "sim", "sim-gpt")
    assert chat["calls"] >= 2 and chat["in_flight"] == 0 and chat["ttft_seconds"] > 0


def test_window_is_passed_to_the_ledger(busy_gateway) -> None:
    assert admin_get(busy_gateway.url, DATA, since="1h")["totals"]["requests"] == 7
    response = httpx.get(
        busy_gateway.url + DATA,
        params={"since": "yesterday-ish"},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=5,
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "since"


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(0.1, 0), (0.2, 10), (float("inf"), 10)], 0.15),
        (0.5, [(1, 2), (2, 4), (float("inf"), 4)], 1.0),
        (0.95, [(1, 0), (float("inf"), 3)], 1.0),  # above the last bound: the bound
        (0.5, [(1, 0), (float("inf"), 0)], None),
        (0.5, [], None),
    ],
)
def test_quantile_from_buckets(q, buckets, expected) -> None:
    assert quantile(q, buckets) == (pytest.approx(expected) if expected is not None else None)
