"""Anthropic Message Batches through the real `anthropic` SDK."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest

from gateway.sim.words import text_of

from .conftest import RunningSim
from .helpers import directive, message_request

WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {}}}}


@pytest.fixture
def client(sim: RunningSim) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.url, api_key="k", max_retries=0)


def wait_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended" or time.monotonic() > deadline:
            return batch
        time.sleep(0.02)


def results(client: anthropic.Anthropic, batch_id: str) -> dict[str, Any]:
    return {row.custom_id: row.result for row in client.messages.batches.results(batch_id)}


def counts(batch) -> dict[str, int]:
    return batch.request_counts.model_dump()


def test_batch_answers_like_the_messages_route(
    client: anthropic.Anthropic, sim: RunningSim
) -> None:
    requests = [
        message_request("a", f"hello {directive(batch_delay_ms=0, tokens=3)}"),
        message_request("b", "use the tool", tools=[WEATHER], tool_choice={"type": "any"}),
        message_request("c", "short", max_tokens=2),
    ]
    created = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert created.id.startswith("msgbatch_") and created.type == "message_batch"
    assert created.processing_status == "in_progress" and created.results_url is None
    assert counts(created)["processing"] == 3
    batch = client.messages.batches.retrieve(created.id)
    assert batch.processing_status == "ended" and batch.ended_at is not None
    assert counts(batch) == {
        "processing": 0,
        "succeeded": 3,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert batch.results_url == f"{sim.url}/v1/messages/batches/{batch.id}/results"
    found = results(client, batch.id)
    assert {key: r.type for key, r in found.items()} == dict.fromkeys("abc", "succeeded")
    first = found["a"].message
    assert first.content[0].text == text_of(3)
    assert (first.usage.input_tokens, first.usage.output_tokens) == (4, 3)
    assert found["b"].message.content[0].type == "tool_use"
    assert found["b"].message.stop_reason == "tool_use"
    assert found["c"].message.stop_reason == "max_tokens"
    rows = httpx.get(f"{sim.url}/_sim/batches", params={"api": "anthropic"}).json()["batches"]
    seen = next(row for row in rows if row["id"] == batch.id)
    assert (seen["status"], seen["custom_ids"], seen["result_fetches"]) == (
        "ended",
        ["a", "b", "c"],
        1,
    )
    assert seen["polls"] == 2  # our retrieve, and the one `results()` makes first


def test_item_errors_and_refused_streams(client: anthropic.Anthropic) -> None:
    requests = [
        message_request("ok", directive(batch_delay_ms=0)),
        message_request("e500", directive(error=500)),
        message_request("e429", directive(error=429)),
        message_request("stream", "hi", stream=True),
    ]
    batch = wait_ended(client, client.messages.batches.create(requests=requests).id)  # type: ignore[arg-type]
    assert (counts(batch)["succeeded"], counts(batch)["errored"]) == (1, 3)
    found = results(client, batch.id)
    kinds = {key: r.error.error.type for key, r in found.items() if r.type == "errored"}
    assert kinds == {
        "e500": "api_error",
        "e429": "rate_limit_error",
        "stream": "invalid_request_error",
    }


def test_delay_keeps_it_in_progress(client: anthropic.Anthropic) -> None:
    started = time.monotonic()
    requests = [message_request(f"r{i}", directive(batch_delay_ms=300)) for i in range(4)]
    created = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    early = client.messages.batches.retrieve(created.id)
    if time.monotonic() - started < 0.25:
        assert early.processing_status == "in_progress" and counts(early)["processing"] == 4
        with pytest.raises(anthropic.AnthropicError):
            client.messages.batches.results(created.id)
    batch = wait_ended(client, created.id)
    assert batch.processing_status == "ended" and time.monotonic() - started >= 0.3
    assert counts(batch)["succeeded"] == 4


def test_cancel(client: anthropic.Anthropic) -> None:
    requests = [message_request(f"r{i}", directive(batch_delay_ms=2000)) for i in range(20)]
    created = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    time.sleep(0.5)
    canceling = client.messages.batches.cancel(created.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    batch = wait_ended(client, created.id)
    tally = counts(batch)
    assert 0 < tally["succeeded"] < 20 and tally["succeeded"] + tally["canceled"] == 20
    kinds = [r.type for r in results(client, batch.id).values()]
    assert kinds.count("canceled") == tally["canceled"]
    with pytest.raises(anthropic.ConflictError):
        client.messages.batches.cancel(created.id)


def test_expiry(client: anthropic.Anthropic) -> None:
    requests = [message_request("first", directive(batch_delay_ms=0, batch_expire=1))]
    requests += [message_request(f"s{i}", "hi") for i in range(5)]
    batch = wait_ended(client, client.messages.batches.create(requests=requests).id)  # type: ignore[arg-type]
    assert (counts(batch)["succeeded"], counts(batch)["expired"]) == (3, 3)
    kinds = sorted(r.type for r in results(client, batch.id).values())
    assert kinds == ["expired"] * 3 + ["succeeded"] * 3


def test_list_and_delete(sim_factory) -> None:
    sim = sim_factory(batch_delay_ms=0)
    client = anthropic.Anthropic(base_url=sim.url, api_key="k", max_retries=0)
    ids = [
        client.messages.batches.create(requests=[message_request("x", "hi")]).id for _ in range(3)
    ]  # type: ignore[list-item]
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]
    older = client.messages.batches.list(after_id=ids[2], limit=1)
    assert [b.id for b in older.data] == [ids[1]]
    newer = client.messages.batches.list(before_id=ids[0], limit=5)
    assert [b.id for b in newer.data] == [ids[2], ids[1]]
    client.messages.batches.retrieve(ids[0])
    assert client.messages.batches.delete(ids[0]).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(ids[0])


def test_create_refusals(client: anthropic.Anthropic) -> None:
    twice = [message_request("same", "a"), message_request("same", "b")]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=twice)  # type: ignore[arg-type]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=[])
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_missing")
