"""Deferred calls on the live endpoints: routing, 202, the record, the Anthropic shape, expiry."""

from __future__ import annotations

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.servers import ServerProcess

from .helpers import defer, jobs_with, record, wait_done


def claude(gw: ServerProcess, key: str = "key-chat") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=10)


@pytest.mark.parametrize("model", ["native-claude", "native-gpt"])
def test_an_anthropic_sdk_call_deferred_with_the_header(
    batch_gateway: ServerProcess, batch_sim: ServerProcess, model: str
) -> None:
    raw = claude(batch_gateway).messages.with_raw_response.create(
        model=model,
        max_tokens=50,
        messages=[{"role": "user", "content": "deferred hello"}],
        extra_headers={"X-Gateway-Mode": "batch"},
    )
    assert raw.status_code == 202
    accepted = orjson.loads(raw.http_response.content)
    call_id = accepted["id"]
    assert accepted == {"id": call_id, "object": "gateway.request", "status": "queued"}
    assert raw.headers["x-gateway-request-id"] == call_id
    done = wait_done(batch_gateway, [call_id])[call_id]
    assert (done["status"], done["mode"], done["http_status"]) == ("completed", "batch", 200)
    message = done["response"]  # in the caller's (Anthropic) shape, whatever the provider
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["type"] == "text" and message["content"][0]["text"]
    assert message["usage"]["output_tokens"] == done["completion_tokens"] > 0
    assert done["batch_savings_usd"] > 0
    (job,) = jobs_with(batch_sim, [call_id])
    assert job["api"] == ("anthropic" if model == "native-claude" else "openai")


def test_a_batch_workload_defers_unless_the_header_says_otherwise(
    batch_gateway: ServerProcess,
) -> None:
    url = f"{batch_gateway.url}/v1/chat/completions"
    body = {"model": "native-gpt", "messages": [{"role": "user", "content": "nightly"}]}
    headers = {"authorization": "Bearer key-nightly"}
    deferred = httpx.post(url, json=body, headers=headers, timeout=10)
    assert deferred.status_code == 202 and deferred.json()["status"] == "queued"
    for mode in ("sync", "auto", "stream"):
        live = httpx.post(url, json=body, headers={**headers, "x-gateway-mode": mode}, timeout=10)
        assert live.status_code == 200 and live.json()["object"] == "chat.completion"
    done = wait_done(batch_gateway, [deferred.json()["id"]])
    assert done[deferred.json()["id"]]["status"] == "completed"


def test_the_openai_sdk_defers_with_extra_headers(batch_gateway: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{batch_gateway.url}/v1", api_key="key-chat", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="emu-gpt",
        messages=[{"role": "user", "content": "later please"}],
        stream=True,  # a deferred call is answered whole: the flag is dropped
        extra_headers={"X-Gateway-Mode": "batch"},
    )
    assert raw.status_code == 202
    call_id = raw.headers["x-gateway-request-id"]
    done = wait_done(batch_gateway, [call_id])[call_id]
    assert done["response"]["object"] == "chat.completion"
    assert done["batch"]["lane"] == "emulated"


def test_a_queued_call_shows_its_status_to_its_workload_only(
    batch_gateway: ServerProcess,
) -> None:
    call_id = defer(batch_gateway, "slow-gpt", "an hour away")
    mine = record(batch_gateway, call_id, {"authorization": "Bearer key-chat"})
    assert mine["status"] == "queued" and mine["response"] is None
    assert mine["object"] == "gateway.request" and mine["mode"] == "batch"
    assert mine["workload"] == "chat-ui" and mine["batch"]["lane"] == "native"
    other = httpx.get(
        f"{batch_gateway.url}/v1/gateway/requests/{call_id}",
        headers={"authorization": "Bearer key-etl"},
    )
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("headers", "param"),
    [
        ({"x-gateway-mode": "later"}, "X-Gateway-Mode"),
        (
            {"x-gateway-mode": "batch", "x-gateway-callback-url": "https://evil.example/x"},
            "X-Gateway-Callback-Url",
        ),
        (
            {"x-gateway-mode": "batch", "x-gateway-callback-url": "ftp://127.0.0.1/x"},
            "X-Gateway-Callback-Url",
        ),
        (
            {"x-gateway-mode": "batch", "x-gateway-callback-url": "http://[::1"},
            "X-Gateway-Callback-Url",
        ),
        (
            {"x-gateway-mode": "batch", "x-gateway-callback-url": "http://127.0.0.1:1/x"},
            "X-Gateway-Callback-Url",
        ),
    ],
)
def test_bad_routing_headers_are_400s_naming_the_header(
    batch_gateway: ServerProcess, headers: dict[str, str], param: str
) -> None:
    body = {"model": "native-gpt", "messages": [{"role": "user", "content": "x"}]}
    response = httpx.post(
        f"{batch_gateway.url}/v1/chat/completions",
        json=body,
        headers={"authorization": "Bearer key-chat", **headers},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert param in response.json()["error"]["message"]
    anthropic_body = {
        "model": "native-claude",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
    }
    shaped = httpx.post(
        f"{batch_gateway.url}/v1/messages",
        json=anthropic_body,
        headers={"x-api-key": "key-chat", **headers},
    )
    assert shaped.status_code == 400
    assert shaped.json()["type"] == "error" and param in shaped.json()["error"]["message"]


def test_what_cannot_run_is_refused_at_once(batch_gateway: ServerProcess) -> None:
    headers = {"authorization": "Bearer key-chat", "x-gateway-mode": "batch"}
    unknown = httpx.post(
        f"{batch_gateway.url}/v1/chat/completions",
        headers=headers,
        json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    untranslatable = httpx.post(
        f"{batch_gateway.url}/v1/embeddings",
        headers=headers,
        json={"model": "native-claude", "input": "x"},
    )
    assert untranslatable.status_code == 400
    assert "no embeddings API" in untranslatable.json()["error"]["message"]


def test_an_expired_call_is_retried_then_ends_expired(
    batch_gateway: ServerProcess, batch_sim: ServerProcess
) -> None:
    call_id = defer(batch_gateway, "native-gpt", "too slow [sim batch_expire=1]")
    done = wait_done(batch_gateway, [call_id])[call_id]
    assert (done["status"], done["http_status"]) == ("expired", 504)
    assert done["error"] and done["response"]["error"]["code"] == "batch_expired"
    assert done["cost_usd"] == 0 and done["batch"]["attempts"] == 2
    assert len(jobs_with(batch_sim, [call_id])) == 3  # batch_max_attempts runs, then expired
