"""End to end on Postgres: the openai SDK -> gateway -> simulator, and what the ledger says."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest

from gateway.auth import hash_key
from gateway.ledger.prompts import prompt_tokens
from tests.conftest import sim_records
from tests.ledger.live import (
    ADMIN,
    config_path,
    fetch_record,
    metric,
    read_then_close,
    start_ledger_gateway,
)
from tests.servers import ServerProcess
from tests.services import PostgresDatabases

PRICE_IN, PRICE_OUT = 1.0, 2.0  # gpt-test in tests/servers.py


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess, postgres: PostgresDatabases
) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("ledger-e2e")
    server = start_ledger_gateway(tmp, sim.url, postgres.new())
    yield server, tmp
    server.stop()


@pytest.fixture
def gw(live: tuple[ServerProcess, Path]) -> ServerProcess:
    return live[0]


def client(gw: ServerProcess, key: str = "key-chat") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=10)


def cost(prompt: int, completion: int) -> float:
    return (prompt * PRICE_IN + completion * PRICE_OUT) / 1e6


def test_a_completed_call_is_recorded_with_the_upstreams_usage(gw: ServerProcess) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "three words here [sim tokens=7]"}]
    )
    body = raw.parse()
    record = fetch_record(gw, raw.headers["x-gateway-request-id"])
    assert record["prompt_tokens"] == body.usage.prompt_tokens
    assert record["completion_tokens"] == record["billed_completion_tokens"] == 7
    assert body.usage.completion_tokens == 7
    assert record["token_source"] == "usage"
    assert (record["price_input"], record["price_output"]) == (PRICE_IN, PRICE_OUT)
    assert record["cost_usd"] == pytest.approx(cost(body.usage.prompt_tokens, 7))
    assert record["cancelled_cost_usd"] == 0
    assert (record["status"], record["http_status"], record["mode"]) == ("completed", 200, "sync")
    assert (record["workload"], record["model"], record["provider"], record["route"]) == (
        "chat-ui",
        "gpt-test",
        "sim",
        "chat",
    )
    assert record["key_id"] == hash_key("key-chat")[:16]
    assert record["duration_ms"] > 0 and record["finished_at"] >= record["created_at"]


def test_a_completed_stream_is_recorded_with_the_usage_the_gateway_asked_for(
    gw: ServerProcess,
) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(
        model="gpt-test",
        stream=True,
        messages=[{"role": "user", "content": "stream please [sim tokens=9]"}],
    )
    pieces = [
        c.choices[0].delta.content for c in raw.parse() if c.choices and c.choices[0].delta.content
    ]
    record = fetch_record(gw, raw.headers["x-gateway-request-id"])
    assert len(pieces) == 9
    assert (record["mode"], record["status"], record["token_source"]) == (
        "stream",
        "completed",
        "usage",
    )
    assert record["completion_tokens"] == 9
    assert record["prompt_tokens"] == 4  # the simulator's usage: one token per word
    assert record["cost_usd"] == pytest.approx(cost(4, 9))
    assert record["ttft_ms"] is not None and record["ttft_ms"] >= 15  # sim ttft is 20 ms


@pytest.mark.parametrize("chunks_read", [1, 5])
def test_a_cancelled_stream_is_one_row_with_the_delivered_tokens(
    gw: ServerProcess, sim: ServerProcess, chunks_read: int
) -> None:
    tag = uuid.uuid4().hex[:12]
    messages = [{"role": "user", "content": f"go [sim tag={tag} tps=20 tokens=200]"}]
    raw = client(gw).chat.completions.with_raw_response.create(
        model="gpt-test", stream=True, messages=messages
    )
    read_then_close(raw.parse(), chunks_read)
    call_id = raw.headers["x-gateway-request-id"]
    record = fetch_record(gw, call_id)
    prompt = prompt_tokens({"messages": messages}, "sim-gpt")
    assert (record["status"], record["http_status"]) == ("cancelled", 499)
    assert record["cancel_reason"] == "client_disconnect"
    assert record["completion_tokens"] == record["billed_completion_tokens"] == chunks_read
    assert record["prompt_tokens"] == prompt
    assert record["token_source"] == "counted"
    assert record["cost_usd"] == pytest.approx(cost(prompt, chunks_read))
    assert record["cancelled_cost_usd"] == record["cost_usd"]
    assert record["abort_latency_ms"] is not None and record["abort_latency_ms"] < 100
    [upstream] = sim_records(sim, tag)
    assert upstream["completed"] is False and upstream["tokens_sent"] >= chunks_read
    listed = httpx.get(
        f"{gw.url}/v1/gateway/requests", headers=ADMIN, params={"status": "cancelled", "limit": 50}
    ).json()["data"]
    assert [r["id"] for r in listed].count(call_id) == 1


def test_mixed_workloads_roll_up_in_spend(gw: ServerProcess) -> None:
    since = datetime.now(UTC).isoformat()
    ids = []
    for key, tokens in (("key-chat", 3), ("key-chat", 4), ("key-etl", 5)):
        raw = client(gw, key).chat.completions.with_raw_response.create(
            model="gpt-test", messages=[{"role": "user", "content": f"hi [sim tokens={tokens}]"}]
        )
        ids.append(raw.headers["x-gateway-request-id"])
    raw = client(gw, "key-etl").embeddings.with_raw_response.create(
        model="embed-test", input=["one two three", "four"]
    )
    ids.append(raw.headers["x-gateway-request-id"])
    raw = client(gw, "key-etl").chat.completions.with_raw_response.create(
        model="gpt-test",
        stream=True,
        messages=[{"role": "user", "content": "go [sim tps=20 tokens=100]"}],
    )
    read_then_close(raw.parse(), 1)
    ids.append(raw.headers["x-gateway-request-id"])
    records = [fetch_record(gw, call_id) for call_id in ids]
    response = httpx.get(
        f"{gw.url}/v1/gateway/spend",
        headers=ADMIN,
        params={"group_by": "workload,model", "since": since},
    )
    assert response.status_code == 200
    spend = {(row["workload"], row["model"]): row for row in response.json()["data"]}
    assert set(spend) == {("chat-ui", "gpt-test"), ("etl", "gpt-test"), ("etl", "embed-test")}
    for (workload, model), row in spend.items():
        mine = [r for r in records if (r["workload"], r["model"]) == (workload, model)]
        assert row["requests"] == len(mine)
        assert row["completed"] == sum(r["status"] == "completed" for r in mine)
        assert row["cancelled"] == sum(r["status"] == "cancelled" for r in mine)
        for field in ("prompt_tokens", "completion_tokens"):
            assert row[field] == sum(r[field] for r in mine), field
        assert row["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in mine))
        assert row["cancelled_cost_usd"] == pytest.approx(
            sum(r["cancelled_cost_usd"] for r in mine)
        )
    assert spend["chat-ui", "gpt-test"]["completion_tokens"] == 7
    assert spend["etl", "gpt-test"]["cancelled"] == 1
    assert spend["etl", "embed-test"]["completion_tokens"] == 0
    [total] = httpx.get(
        f"{gw.url}/v1/gateway/spend", headers=ADMIN, params={"group_by": "", "since": since}
    ).json()["data"]
    assert total["requests"] == len(records)


def test_a_record_is_readable_by_its_workloads_key_or_admin_only(gw: ServerProcess) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "mine [sim tokens=2]"}]
    )
    call_id = raw.headers["x-gateway-request-id"]
    assert len(call_id) == 32
    own = fetch_record(gw, call_id, headers={"authorization": "Bearer key-chat"})
    assert own["id"] == call_id and own["object"] == "gateway.request"
    assert fetch_record(gw, call_id)["id"] == call_id
    url = f"{gw.url}/v1/gateway/requests/{call_id}"
    other = httpx.get(url, headers={"x-api-key": "key-etl"})
    assert other.status_code == 404 and other.json()["error"]["type"] == "not_found_error"
    assert httpx.get(url).status_code == 401
    missing = httpx.get(f"{gw.url}/v1/gateway/requests/{'0' * 32}", headers=ADMIN)
    assert missing.status_code == 404


def test_admin_routes_need_the_admin_key_and_name_bad_parameters(gw: ServerProcess) -> None:
    for path in ("/v1/gateway/requests", "/v1/gateway/spend", "/v1/gateway/keys"):
        denied = httpx.get(gw.url + path, headers={"authorization": "Bearer key-chat"})
        assert denied.status_code == 401, path
        assert denied.json()["error"]["type"] == "authentication_error"
    for params, param in (
        ({"group_by": "workload,colour"}, "group_by"),
        ({"since": "last tuesday"}, "since"),
        ({"until": "x"}, "until"),
    ):
        bad = httpx.get(f"{gw.url}/v1/gateway/spend", headers=ADMIN, params=params)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == param
    for params, param in (
        ({"status": "lost"}, "status"),
        ({"limit": "many"}, "limit"),
        ({"limit": "0"}, "limit"),
    ):
        bad = httpx.get(f"{gw.url}/v1/gateway/requests", headers=ADMIN, params=params)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == param
    listed = httpx.get(f"{gw.url}/v1/gateway/requests", headers=ADMIN, params={"limit": 2})
    assert listed.json()["object"] == "list" and len(listed.json()["data"]) <= 2


def test_keys_from_the_cli_and_the_api_take_effect(live: tuple[ServerProcess, Path]) -> None:
    gw, tmp = live
    config = str(config_path(tmp, gw))

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "keys", *args, "--config", config],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def status(key: str) -> int:
        return httpx.get(
            f"{gw.url}/v1/models", headers={"authorization": f"Bearer {key}"}
        ).status_code

    def within(seconds: float, key: str, expected: int) -> None:
        deadline = time.monotonic() + seconds
        while status(key) != expected:
            assert time.monotonic() < deadline, f"{key[:10]} never answered {expected}"
            time.sleep(0.1)

    key = cli("create", "--workload", "etl").strip()
    within(4.0, key, 200)  # another process made it: the gateway's refresh picks it up
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi [sim tokens=1]"}]
    )
    record = fetch_record(gw, raw.headers["x-gateway-request-id"])
    assert record["workload"] == "etl" and record["key_id"] == hash_key(key)[:16]
    cli("revoke", key[:10])
    within(4.0, key, 401)
    with pytest.raises(openai.AuthenticationError):
        client(gw, key).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        )

    created = httpx.post(f"{gw.url}/v1/gateway/keys", headers=ADMIN, json={"workload": "etl"})
    assert created.status_code == 201
    api_key = created.json()["key"]
    assert status(api_key) == 200  # at once
    listed = httpx.get(f"{gw.url}/v1/gateway/keys", headers=ADMIN).json()["data"]
    assert all("key" not in k for k in listed)
    assert {k["id"] for k in listed} >= {created.json()["id"]}
    revoked = httpx.delete(f"{gw.url}/v1/gateway/keys/{created.json()['id']}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert status(api_key) == 401  # at once
    bad = httpx.post(f"{gw.url}/v1/gateway/keys", headers=ADMIN, json={"workload": "a b"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "workload"
    assert httpx.delete(f"{gw.url}/v1/gateway/keys/key_nope", headers=ADMIN).status_code == 404


def test_token_and_cost_metrics(gw: ServerProcess) -> None:
    client(gw).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "count me [sim tokens=3]"}]
    )
    time.sleep(0.5)
    labels = {"workload": "chat-ui", "model": "gpt-test"}
    assert (metric(gw, "gateway_tokens_total", kind="prompt", **labels) or 0) > 0
    assert (metric(gw, "gateway_tokens_total", kind="completion", **labels) or 0) >= 3
    assert (metric(gw, "gateway_cost_usd_total", **labels) or 0) > 0
    assert (metric(gw, "gateway_cancelled_cost_usd_total", **labels) or 0) > 0
    assert metric(gw, "gateway_ledger_pending") == 0
