"""Anthropic Message Batches on the gateway, driven by the `anthropic` SDK: an Anthropic-kind
model through the native lane (the provider's own Message Batches), OpenAI-kind models through
the emulated lane and the OpenAI native lane (translated), cancel, results, delete; and a
Gemini-shaped call deferred to a translated lane."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.servers import ServerProcess

from .helpers import ADMIN, jobs_with, record, sim_runs, wait_done

PROCESSING = ("in_progress", "canceling")


def claude(gw: ServerProcess, key: str = "key-chat") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=10)


def request(custom_id: str, model: str, text: str = "hello", **extra: Any) -> dict[str, Any]:
    params = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}]}
    return {"custom_id": custom_id, "params": {**params, **extra}}


def ended(client: anthropic.Anthropic, batch_id: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    batch = client.messages.batches.retrieve(batch_id)
    while batch.processing_status != "ended":
        assert time.monotonic() < deadline, f"batch still {batch.processing_status}"
        time.sleep(0.2)
        batch = client.messages.batches.retrieve(batch_id)
    return batch


def test_a_batch_across_lanes_end_to_end(
    batch_gateway: ServerProcess, batch_sim: ServerProcess
) -> None:
    client = claude(batch_gateway)
    requests = [
        request("claude-1", "native-claude", "first"),
        request("claude-2", "native-claude", "second", system="be brief"),
        request("emu-1", "emu-gpt"),
        request("emu-2", "emu-gpt"),
        request("gpt-1", "native-gpt"),
    ]
    batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 5
    assert batch.expires_at > batch.created_at
    batch = ended(client, batch.id)
    assert batch.request_counts.succeeded == 5 and batch.ended_at is not None
    assert batch.results_url == f"{batch_gateway.url}/v1/messages/batches/{batch.id}/results"
    results = {item.custom_id: item.result for item in client.messages.batches.results(batch.id)}
    assert set(results) == {r["custom_id"] for r in requests}
    for result in results.values():
        assert result.type == "succeeded"
        message = result.message  # type: ignore[union-attr]
        assert message.role == "assistant" and len(message.content[0].text.split()) == 8
        assert message.usage.output_tokens == 8
    listed = [b.id for b in client.messages.batches.list(limit=10)]
    assert batch.id in listed
    # the Anthropic-kind calls went into one provider Message Batch; the others ran one by one
    calls = httpx.get(
        f"{batch_gateway.url}/v1/gateway/requests",
        params={"limit": 1000}, headers=ADMIN,
    ).json()["data"]  # fmt: skip
    ours = {
        r["id"]: r
        for r in calls
        if r["route"] == "messages" and r["mode"] == "batch"
        and record(batch_gateway, r["id"])["batch"]["batch_id"] == batch.id
    }  # fmt: skip
    assert len(ours) == 5
    claude_ids = [i for i, row in ours.items() if row["model"] == "native-claude"]
    jobs = jobs_with(batch_sim, claude_ids)
    assert len(claude_ids) == 2 and len(jobs) == 1 and jobs[0]["api"] == "anthropic"
    emulated = [i for i, row in ours.items() if row["model"] == "emu-gpt"]
    assert sim_runs(batch_sim, emulated) == dict.fromkeys(emulated, 1)
    assert record(batch_gateway, emulated[0])["batch"]["batch_id"] == batch.id
    # an OpenAI client does not see Message Batches among its batches
    oai = openai.OpenAI(base_url=f"{batch_gateway.url}/v1", api_key="key-chat", max_retries=0)
    assert batch.id not in [b.id for b in oai.batches.list(limit=100)]


def test_cancel_results_and_delete(batch_gateway: ServerProcess) -> None:
    client = claude(batch_gateway)
    batch = client.messages.batches.create(
        requests=[request(f"slow-{i}", "slow-gpt") for i in range(3)]  # type: ignore[misc]
    )
    early = httpx.get(  # no results before the end (the SDK does not even ask)
        f"{batch_gateway.url}/v1/messages/batches/{batch.id}/results",
        headers={"x-api-key": "key-chat"},
    )
    assert early.status_code == 409 and early.json()["type"] == "error"
    with pytest.raises(anthropic.ConflictError):
        client.messages.batches.delete(batch.id)
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status in ("canceling", "ended")
    assert canceling.cancel_initiated_at is not None
    batch = ended(client, batch.id)
    assert batch.request_counts.canceled == 3
    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == ["slow-0", "slow-1", "slow-2"]
    assert {r.result.type for r in results} == {"canceled"}
    with pytest.raises(anthropic.ConflictError):
        client.messages.batches.cancel(batch.id)
    deleted = client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


@pytest.mark.parametrize(
    ("requests", "param"),
    [
        ([request("a", "emu-gpt"), request("b", "emu-gpt", stream=True)],
         "requests[1].params.stream"),
        ([request("a", "emu-gpt"), request("a", "emu-gpt")], "requests[1].custom_id"),
        ([request("bad id!", "emu-gpt")], "requests[0].custom_id"),
        ([{"custom_id": "a", "params": {"model": "emu-gpt", "max_tokens": 5}}],
         "requests[0].params.messages"),
        ([request("a", "emu-gpt", thinking={"type": "enabled", "budget_tokens": 1024})],
         "requests[0].params.thinking"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_naming_the_field(
    batch_gateway: ServerProcess, requests: list[dict[str, Any]], param: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude(batch_gateway).messages.batches.create(requests=requests)  # type: ignore[arg-type]
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error" and param in error["message"]


def test_batches_need_a_key_and_are_private(batch_gateway: ServerProcess) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        claude(batch_gateway, "wrong").messages.batches.list()
    batch = claude(batch_gateway).messages.batches.create(
        requests=[request("x", "emu-gpt")]  # type: ignore[list-item]
    )
    with pytest.raises(anthropic.NotFoundError):
        claude(batch_gateway, "key-etl").messages.batches.retrieve(batch.id)
    ended(claude(batch_gateway), batch.id)


def test_a_gemini_call_deferred_to_a_translated_native_lane(
    batch_gateway: ServerProcess,
) -> None:
    response = httpx.post(
        f"{batch_gateway.url}/v1beta/models/native-gpt:generateContent",
        headers={"x-goog-api-key": "key-chat", "x-gateway-mode": "batch"},
        json={"contents": [{"role": "user", "parts": [{"text": "later"}]}]},
    )
    assert response.status_code == 202, response.text
    call_id = response.json()["id"]
    done = wait_done(batch_gateway, [call_id])[call_id]
    assert done["status"] == "completed" and done["batch"]["lane"] == "native"
    assert done["route"] == "gemini"
    candidate = done["response"]["candidates"][0]
    assert candidate["finishReason"] == "STOP" and candidate["content"]["role"] == "model"
