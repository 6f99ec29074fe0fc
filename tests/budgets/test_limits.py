"""Limits and budgets without Redis (the in-process store), through a real gateway process with
the real SDKs: rpm, tpm and concurrency per workload and per key in every caller's shape, USD
budgets against the ledger, cancelled streams settled at the billed cost, deferred calls at
the discounted price, and keys with limits of their own."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.ledger.live import metric, read_then_close, wait_until
from tests.servers import SIM_KEY, ServerProcess, gateway_config, start_gateway

from .helpers import (
    ADMIN,
    bearer,
    budgets,
    chat,
    ledger_spend,
    settled,
    workload_budget,
)

DEFERRED_BUDGET = 0.006  # between a no-max_tokens call's full ($0.0083) and half price


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("limits")


@pytest.fixture(scope="module")
def limited_config(tmp: Path, sim: ServerProcess) -> dict[str, Any]:
    config = gateway_config(sim.url, batch_poll_interval="0.2s", batch_poll_max="0.5s",
                            database_url=f"sqlite+aiosqlite:///{tmp}/limits.db")
    config["providers"].append({
        "name": "sim-native", "kind": "openai", "base_url": f"{sim.url}/v1", "api_key": SIM_KEY,
        "batch": "native", "batch_max_items": 1, "batch_max_wait": "100ms",
    })
    config["models"].append({
        "name": "native-test", "provider": "sim-native", "upstream_model": "sim-gpt",
        "price": {"input": 1.0, "output": 2.0}, "batch_discount": 0.5,
    })
    config["models"] += [  # a cheap model whose fallback is dear: reserve for the dear one
        {"name": "dear-test", "provider": "sim", "upstream_model": "sim-gpt",
         "price": {"input": 1000.0, "output": 1000.0}},
        {"name": "cheap-test", "provider": "sim", "upstream_model": "sim-gpt",
         "price": {"input": 0.01, "output": 0.01}, "fallbacks": ["dear-test"]},
        {"name": "cheap-alone", "provider": "sim", "upstream_model": "sim-gpt",
         "price": {"input": 0.01, "output": 0.01}},
    ]
    config["workloads"] += [
        {"name": "fallback-budget", "keys": ["key-fb"], "limits": {"usd_per_day": 0.01}},
        {"name": "rpm", "keys": ["key-rpm"], "limits": {"rpm": 2}},
        {"name": "tpm", "keys": ["key-tpm"], "limits": {"tpm": 400}},
        {"name": "per-key", "keys": ["key-free", {"key": "key-one", "limits": {"concurrency": 1}}]},
        {"name": "budget", "keys": ["key-budget"], "limits": {"usd_per_day": 0.0003}},
        {"name": "cancel-delivered", "keys": ["key-cd"], "limits": {"usd_per_month": 1}},
        {"name": "cancel-full", "keys": ["key-cf"], "limits": {"usd_per_day": 1}},
        {"name": "deferred", "keys": ["key-deferred"],
         "limits": {"usd_per_day": DEFERRED_BUDGET}},
        {"name": "keyed", "keys": []},
    ]
    return config


@pytest.fixture(scope="module")
def limited(tmp: Path, limited_config: dict[str, Any]) -> Iterator[ServerProcess]:
    server = start_gateway(tmp, dict(limited_config))
    yield server
    server.stop()


def test_rpm_refuses_in_every_callers_shape(limited: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{limited.url}/v1", api_key="key-rpm", max_retries=0)
    first = client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert "x-ratelimit-limit-tokens" not in first.headers  # no tpm on this workload
    assert chat(limited, "key-rpm").status_code == 200

    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-test",
                                       messages=[{"role": "user", "content": "hi"}])
    response = refused.value.response
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 30
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.value.code == "rate_limit_exceeded"
    assert "requests per minute" in refused.value.message

    claude = anthropic.Anthropic(base_url=limited.url, api_key="key-rpm", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as refused_anthropic:
        claude.messages.create(model="claude-test", max_tokens=10,
                               messages=[{"role": "user", "content": "hi"}])
    assert refused_anthropic.value.body["error"]["type"] == "rate_limit_error"
    assert "retry-after" in refused_anthropic.value.response.headers

    gemini = httpx.post(f"{limited.url}/v1beta/models/gpt-test:generateContent",
                        headers={"x-goog-api-key": "key-rpm"}, timeout=5,
                        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert gemini.status_code == 429
    assert gemini.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="gpt-test", input="hi")
    # The two answered calls reach the ledger (within the writer's interval); the four
    # refused ones never do.
    wait_until(lambda: ledger_spend(limited, "rpm")[1] >= 2)
    time.sleep(0.5)  # a few writer intervals: nothing else arrives
    assert ledger_spend(limited, "rpm")[1] == 2


def test_tpm_counts_max_tokens_and_gives_back_what_was_not_used(limited: ServerProcess) -> None:
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(
        chat(limited, "key-tpm", "hi [sim ttft_ms=1000]", max_tokens=300)), daemon=True)
    slow.start()  # in flight (so not settled) while the next call asks

    def tokens_left() -> int:
        return workload_budget(limited, "tpm")["tokens"]["remaining"]

    wait_until(lambda: tokens_left() < 100, 5, "the first call's tokens taken")
    refused = chat(limited, "key-tpm", max_tokens=300)
    assert refused.status_code == 429
    assert "tokens per minute" in refused.json()["error"]["message"]
    assert int(refused.headers["x-ratelimit-remaining-tokens"]) < 300
    slow.join(10)
    [first] = answers
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-tokens"] == "400"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 100  # prompt + max_tokens
    # The first call used ~13 tokens: once settled the rest returns (a refill alone takes ~40 s).
    wait_until(lambda: chat(limited, "key-tpm", max_tokens=300).status_code == 200, 8,
               "tokens given back")


def test_a_call_with_a_dearer_fallback_reserves_the_dearer_cost(limited: ServerProcess) -> None:
    """The call may end up served by its fallback: its reservation is the dearest estimate."""
    client = openai.OpenAI(base_url=f"{limited.url}/v1", api_key="key-fb", max_retries=0)
    ask = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    assert client.chat.completions.create(model="cheap-alone", **ask).choices  # fits alone
    for model in ("cheap-test", "dear-test"):
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model=model, **ask)
        assert refused.value.response.headers["retry-after"]


def test_concurrency_per_key(limited: ServerProcess) -> None:
    slow = threading.Thread(
        target=chat, args=(limited, "key-one", "slow [sim ttft_ms=1500]"), daemon=True)
    slow.start()

    def in_flight() -> int:
        entry = next(b for b in budgets(limited) if b["scope"] == "key"
                     and b["workload"] == "per-key")
        return entry["concurrency"]["in_flight"]

    wait_until(lambda: in_flight() == 1, 5, "the slow call admitted")
    refused = chat(limited, "key-one")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert "calls in flight" in refused.json()["error"]["message"]
    assert "this key" in refused.json()["error"]["message"]
    assert chat(limited, "key-free").status_code == 200  # the workload's other key is free
    slow.join(10)
    wait_until(lambda: in_flight() == 0, 5, "the slot freed")
    assert chat(limited, "key-one").status_code == 200


def test_a_usd_budget_is_never_exceeded_and_matches_the_ledger(limited: ServerProcess) -> None:
    final = None
    for _ in range(60):
        response = chat(limited, "key-budget", max_tokens=20)
        if response.status_code == 200:
            continue
        assert response.status_code == 429, response.text
        if int(response.headers["retry-after"]) > 1:
            final = response
            break
        wait_until(lambda: workload_budget(limited, "budget")["usd_per_day"]["reserved"] == 0,
                   5, "calls in flight settled")
    assert final is not None, "the budget never ran out"
    error = final.json()["error"]
    assert error["code"] == "budget_exceeded" and "USD budget per day" in error["message"]
    assert 1 < int(final.headers["retry-after"]) <= 86400  # when the UTC day ends
    spent, calls = ledger_spend(limited, "budget")
    entry = settled(limited, "budget", calls)["usd_per_day"]
    assert Decimal(str(entry["spent"])) == spent
    assert 0 < spent <= Decimal("0.0003") and calls >= 3
    assert entry["remaining"] == pytest.approx(0.0003 - float(spent))


@pytest.mark.parametrize(
    ("workload", "key", "model", "policy"),
    [("cancel-delivered", "key-cd", "gpt-test", "delivered"),
     ("cancel-full", "key-cf", "gemini-test", "full")],
)
def test_cancelled_streams_settle_at_the_billed_cost(
    limited: ServerProcess, workload: str, key: str, model: str, policy: str
) -> None:
    client = openai.OpenAI(base_url=f"{limited.url}/v1", api_key=key, max_retries=0)
    for _ in range(2):
        stream = client.chat.completions.create(
            model=model, stream=True, max_tokens=40,
            messages=[{"role": "user", "content": "go [sim tps=20 tokens=40]"}])
        read_then_close(stream, 3)
    period = "usd_per_month" if policy == "delivered" else "usd_per_day"
    entry = settled(limited, workload, 2, period)[period]
    records = httpx.get(f"{limited.url}/v1/gateway/requests", params={"workload": workload},
                        headers=ADMIN).json()["data"]
    assert [r["status"] for r in records] == ["cancelled", "cancelled"]
    for record in records:
        billed = record["billed_completion_tokens"]
        assert billed == (40 if policy == "full" else record["completion_tokens"])
    assert Decimal(str(entry["spent"])) == ledger_spend(limited, workload)[0] > 0


def test_deferred_calls_reserve_at_the_discounted_price(limited: ServerProcess) -> None:
    body = {"model": "native-test", "messages": [{"role": "user", "content": "later"}]}
    live = httpx.post(f"{limited.url}/v1/chat/completions", json=body, timeout=10,
                      headers=bearer("key-deferred"))
    assert live.status_code == 429  # at the full price its most is above the whole budget
    assert "more than the whole budget" in live.json()["error"]["message"]
    deferred = httpx.post(f"{limited.url}/v1/chat/completions", json=body, timeout=10,
                          headers={**bearer("key-deferred"), "x-gateway-mode": "batch"})
    assert deferred.status_code == 202, deferred.text
    assert workload_budget(limited, "deferred")["usd_per_day"]["reserved"] > 0

    lines = [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": body} for i in range(2)]
    client = openai.OpenAI(base_url=f"{limited.url}/v1", api_key="key-deferred", max_retries=0)
    upload = client.files.create(
        file=("in.jsonl", "\n".join(json.dumps(line) for line in lines).encode()),
        purpose="batch")
    with pytest.raises(openai.RateLimitError) as refused:  # two more do not fit
        client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                              completion_window="24h")
    assert refused.value.code == "budget_exceeded"

    entry = settled(limited, "deferred", 1)["usd_per_day"]  # the worker ran and billed it
    spent, _ = ledger_spend(limited, "deferred")
    assert Decimal(str(entry["spent"])) == spent > 0


def test_keys_with_limits_of_their_own(limited: ServerProcess, tmp: Path) -> None:
    bad = httpx.post(f"{limited.url}/v1/gateway/keys", headers=ADMIN,
                     json={"workload": "keyed", "limits": {"rpm": 0}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limits.rpm"
    created = httpx.post(f"{limited.url}/v1/gateway/keys", headers=ADMIN,
                         json={"workload": "keyed", "limits": {"rpm": 1, "usd_per_day": "0.5"}})
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["limits"] == {"rpm": 1, "usd_per_day": 0.5}
    key = record["key"]
    assert chat(limited, key).status_code == 200
    refused = chat(limited, key)
    assert refused.status_code == 429 and "this key" in refused.json()["error"]["message"]

    own = budgets(limited, bearer(key))
    assert [(b["scope"], b["workload"], b["prefix"]) for b in own] == [
        ("key", "keyed", record["prefix"])]
    assert own[0]["limits"]["usd_per_day"] == 0.5 and own[0]["requests"]["remaining"] == 0
    assert all(b["workload"] == "rpm" for b in budgets(limited, bearer("key-rpm")))
    assert {b["workload"] for b in budgets(limited)} >= {"rpm", "tpm", "per-key", "keyed"}
    listed = httpx.get(f"{limited.url}/v1/gateway/keys", headers=ADMIN).json()["data"]
    assert next(k for k in listed if k["id"] == record["id"])["limits"]["rpm"] == 1

    config = str(tmp / f"gateway-{limited.port}.yaml")
    gateway = [sys.executable, "-m", "gateway", "keys"]
    made = subprocess.run([*gateway, "create", "--workload", "keyed", "--rpm", "5",
                           "--usd-per-day", "2", "--config", config],
                          capture_output=True, text=True, timeout=30, cwd=tmp)
    assert made.returncode == 0, made.stderr
    wrong = subprocess.run([*gateway, "create", "--workload", "keyed", "--tpm", "-1",
                            "--config", config], capture_output=True, text=True, timeout=30)
    assert wrong.returncode != 0 and "--tpm" in wrong.stderr
    shown = subprocess.run([*gateway, "list", "--config", config], capture_output=True,
                           text=True, timeout=30, cwd=tmp).stdout
    assert "rpm=5 usd_per_day=2" in shown and "rpm=1 usd_per_day=0.5" in shown


def test_metrics_and_the_dashboard_show_budgets(limited: ServerProcess) -> None:
    assert chat(limited, "key-budget").status_code == 429  # the day's budget is used up
    assert (metric(limited, "gateway_rate_limited_total", workload="budget",
                   limit="usd_per_day") or 0) >= 1
    assert (metric(limited, "gateway_rate_limited_total", workload="rpm", limit="rpm")
            or 0) >= 1
    left = workload_budget(limited, "budget")["usd_per_day"]["remaining"]
    wait_until(lambda: metric(limited, "gateway_budget_remaining_usd", workload="budget",
                              period="day") == pytest.approx(left), 5, "the gauge")
    figures = httpx.get(f"{limited.url}/v1/gateway/dashboard", headers=ADMIN).json()
    shown = {(b["scope"], b["workload"]) for b in figures["budgets"]}
    assert {("workload", "budget"), ("key", "per-key")} <= shown


def test_a_new_gateway_process_starts_from_the_ledgers_spend(
    limited: ServerProcess, limited_config: dict[str, Any], tmp: Path
) -> None:
    spent, _ = ledger_spend(limited, "budget")
    assert spent > 0  # the budget test above spent it
    again = start_gateway(tmp, dict(limited_config))  # the same ledger, a store of its own
    try:
        entry = workload_budget(again, "budget")["usd_per_day"]
        assert Decimal(str(entry["spent"])) == spent
        assert chat(again, "key-budget").status_code == 429  # still used up
    finally:
        again.stop()
