"""An upstream that echoes the provider key (`[sim echo_key=1]`) gets it to no byte of any
response, no ledger record and no line of the gateway's log: native OpenAI and Anthropic,
translated, streamed, whole, errors, and both batch lanes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers import SIM_KEY, ServerProcess, gateway_config, start_gateway, start_sim

KEY = SIM_KEY.encode()
MASK = b"*" * len(KEY)
ADMIN = {"authorization": "Bearer admin-secret"}
CLIENT = {"authorization": "Bearer key-chat"}
TERMINAL = ("completed", "failed", "cancelled", "expired")


@pytest.fixture(scope="module")
def echo_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_sim(
        tmp_path_factory.mktemp("echo-sim"), "--ttft-ms", "5", "--tokens-per-second", "2000",
        "--output-tokens", "6", "--batch-delay-ms", "300",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def echo_gateway(
    tmp_path_factory: pytest.TempPathFactory, echo_sim: ServerProcess
) -> Iterator[ServerProcess]:
    config = gateway_config(echo_sim.url, batch_poll_interval="100ms", batch_poll_max="300ms",
                            batch_lease="2s")
    lane = {"api_key": SIM_KEY, "batch_max_wait": "100ms"}
    config["providers"] += [
        {"name": "native-batch", "kind": "openai", "base_url": f"{echo_sim.url}/v1",
         "batch": "native", **lane},
        {"name": "emulated-batch", "kind": "openai", "base_url": f"{echo_sim.url}/v1", **lane},
        {"name": "claude-batch", "kind": "anthropic", "base_url": echo_sim.url,
         "batch": "native", **lane},
    ]
    config["models"] += [
        {"name": "native-gpt", "provider": "native-batch", "upstream_model": "sim-gpt"},
        {"name": "emu-gpt", "provider": "emulated-batch", "upstream_model": "sim-gpt"},
        {"name": "native-claude", "provider": "claude-batch", "upstream_model": "sim-claude"},
    ]
    server = start_gateway(tmp_path_factory.mktemp("echo-gateway"), config)
    yield server
    server.stop()


def directive(extra: str = "") -> str:
    return f"say it [sim echo_key=1 tag={uuid.uuid4().hex[:10]} {extra}]"


def openai_body(model: str, extra: str = "", stream: bool = False) -> dict[str, Any]:
    return {"model": model, "stream": stream,
            "messages": [{"role": "user", "content": directive(extra)}]}


def anthropic_body(model: str, extra: str = "", stream: bool = False) -> dict[str, Any]:
    return {"model": model, "max_tokens": 50, "stream": stream,
            "messages": [{"role": "user", "content": directive(extra)}]}


def raw(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes]:
    """Status and every byte of the response (headers included), streamed or not."""
    with httpx.stream("POST", url, json=body, headers=headers, timeout=15) as response:
        data = b"".join(response.iter_raw())
        head = b"".join(k + b": " + v for k, v in response.headers.raw)
        return response.status_code, head + b"\n" + data


def test_the_simulator_echoes_the_key_it_was_sent(echo_sim: ServerProcess) -> None:
    """Without this the other tests would prove nothing."""
    auth = {"authorization": f"Bearer {SIM_KEY}"}
    url = f"{echo_sim.url}/v1/chat/completions"
    status, whole = raw(url, openai_body("sim-gpt"), auth)
    assert status == 200 and b'"echo":"' + KEY in whole
    status, error = raw(url, openai_body("sim-gpt", "error=500"), auth)
    document = httpx.post(url, json=openai_body("sim-gpt", "error=500"), headers=auth).json()
    assert status == 500 and KEY in error
    assert SIM_KEY in document["error"]["message"]
    assert document["error"]["param"] == document["error"]["code"] == SIM_KEY
    _, stream = raw(url, openai_body("sim-gpt", "error=mid_stream", stream=True), auth)
    assert KEY in stream.rpartition(b"data:")[2]  # in the error event
    anthropic = {"x-api-key": SIM_KEY, "anthropic-version": "2023-06-01"}
    _, event = raw(f"{echo_sim.url}/v1/messages",
                   anthropic_body("sim-claude", "error=mid_stream", stream=True), anthropic)
    assert b"event: error" in event and KEY in event.rpartition(b"event: error")[2]


OPENAI_CASES = [
    ("gpt-test", "", False),  # native: relayed as the provider sent it
    ("gpt-test", "", True),
    ("gpt-test", "error=mid_stream error_after=2", True),
    ("gpt-test", "error=500", False),
    ("gpt-test", "error=429", False),
    ("gpt-test", "error=500", True),
    ("claude-test", "", False),  # translated from Anthropic
    ("claude-test", "error=mid_stream error_after=2", True),
    ("claude-test", "error=overloaded", False),
    ("gemini-test", "error=mid_stream error_after=2", True),  # translated from Gemini
    ("gemini-test", "error=500", False),
]
ANTHROPIC_CASES = [
    ("claude-test", "", False),  # native
    ("claude-test", "error=mid_stream error_after=2", True),
    ("claude-test", "error=500", False),
    ("gpt-test", "", False),  # translated from OpenAI
    ("gpt-test", "error=mid_stream error_after=2", True),
    ("gpt-test", "error=500", False),
]


@pytest.mark.parametrize(("model", "extra", "stream"), OPENAI_CASES)
def test_no_key_in_an_openai_shaped_answer(
    echo_gateway: ServerProcess, model: str, extra: str, stream: bool
) -> None:
    status, data = raw(f"{echo_gateway.url}/v1/chat/completions",
                       openai_body(model, extra, stream), CLIENT)
    assert KEY not in data, data
    if model == "gpt-test" and not extra and not stream:
        assert status == 200 and b'"echo":"' + MASK in data  # echoed, and masked in place


@pytest.mark.parametrize(("model", "extra", "stream"), ANTHROPIC_CASES)
def test_no_key_in_an_anthropic_shaped_answer(
    echo_gateway: ServerProcess, model: str, extra: str, stream: bool
) -> None:
    headers = {**CLIENT, "anthropic-version": "2023-06-01"}
    status, data = raw(f"{echo_gateway.url}/v1/messages",
                       anthropic_body(model, extra, stream), headers)
    assert KEY not in data, data
    if model == "claude-test" and not extra:
        assert status == 200 and b'"echo":"' + MASK in data


@pytest.mark.parametrize("model", ["native-gpt", "emu-gpt"])
def test_no_key_in_a_deferred_calls_record_or_result(
    echo_gateway: ServerProcess, echo_sim: ServerProcess, model: str
) -> None:
    ids = [defer(echo_gateway, model, extra) for extra in ("", "error=500")]
    records = wait_done(echo_gateway, ids)
    assert [records[i]["status"] for i in ids] == ["completed", "failed"]
    for call_id in ids:
        response = httpx.get(f"{echo_gateway.url}/v1/gateway/requests/{call_id}",
                             headers=ADMIN, timeout=10)
        assert KEY not in response.content
    assert records[ids[0]]["response"]["echo"] == "*" * len(SIM_KEY)
    if model == "native-gpt":  # the provider's own result file did carry the key
        assert KEY in provider_results(echo_sim, ids[0])


def test_no_key_in_an_anthropic_batch_result(echo_gateway: ServerProcess) -> None:
    headers = {**CLIENT, "x-gateway-mode": "batch", "anthropic-version": "2023-06-01"}
    response = httpx.post(f"{echo_gateway.url}/v1/messages",
                          json=anthropic_body("native-claude"), headers=headers, timeout=10)
    assert response.status_code == 202
    call_id = response.json()["id"]
    record = wait_done(echo_gateway, [call_id])[call_id]
    assert record["status"] == "completed" and record["response"]["echo"] == "*" * len(SIM_KEY)


def test_no_key_in_the_ledger_or_the_log(echo_gateway: ServerProcess) -> None:
    for model, extra, stream in OPENAI_CASES:
        raw(f"{echo_gateway.url}/v1/chat/completions", openai_body(model, extra, stream), CLIENT)
    deadline = time.monotonic() + 10
    while True:  # the writer batches rows: wait for the newest calls to land
        listed = httpx.get(f"{echo_gateway.url}/v1/gateway/requests?limit=500",
                           headers=ADMIN, timeout=10)
        if len(listed.json()["data"]) >= len(OPENAI_CASES) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert listed.status_code == 200 and listed.json()["data"]
    assert KEY not in listed.content
    assert any(r["error"] for r in listed.json()["data"])  # the errors were recorded
    assert SIM_KEY not in echo_gateway.output()


def defer(gw: ServerProcess, model: str, extra: str) -> str:
    response = httpx.post(f"{gw.url}/v1/chat/completions", json=openai_body(model, extra),
                          headers={**CLIENT, "x-gateway-mode": "batch"}, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_done(gw: ServerProcess, call_ids: list[str], within: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        records = {
            call_id: httpx.get(f"{gw.url}/v1/gateway/requests/{call_id}", headers=ADMIN,
                               timeout=10).json()
            for call_id in call_ids
        }
        if all(r["status"] in TERMINAL for r in records.values()):
            return records
        assert time.monotonic() < deadline, records
        time.sleep(0.1)


def provider_results(sim: ServerProcess, call_id: str) -> bytes:
    """The output file of the simulator's batch job that carried `call_id`."""
    auth = {"authorization": f"Bearer {SIM_KEY}"}
    (job,) = [j for j in httpx.get(f"{sim.url}/_sim/batches", timeout=5).json()["batches"]
              if call_id in j["custom_ids"]]
    batch = httpx.get(f"{sim.url}/v1/batches/{job['id']}", headers=auth, timeout=5).json()
    url = f"{sim.url}/v1/files/{batch['output_file_id']}/content"
    return httpx.get(url, headers=auth, timeout=5).content


