"""The OpenAI Files and Batch API through the real `openai` SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from gateway.sim.words import text_of

from .conftest import RunningSim
from .helpers import chat_line, directive, jsonl, new_tag

ENDED = ("completed", "failed", "expired", "cancelled")


@pytest.fixture
def client(sim: RunningSim) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)


def submit(client: openai.OpenAI, lines: list, delay_ms: int = 0, **metadata: str):
    uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    endpoint = lines[0]["url"] if isinstance(lines[0], dict) else "/v1/chat/completions"
    return client.batches.create(
        input_file_id=uploaded.id,
        endpoint=endpoint,
        completion_window="24h",
        metadata={"sim_delay_ms": str(delay_ms), **metadata},
    )


def wait_ended(client: openai.OpenAI, batch_id: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ENDED or time.monotonic() > deadline:
            return batch
        time.sleep(0.02)


def lines_of(client: openai.OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    rows = [json.loads(line) for line in client.files.content(file_id).text.splitlines()]
    return {row["custom_id"]: row for row in rows}


def sim_batch(sim: RunningSim, batch_id: str) -> dict[str, Any]:
    rows = httpx.get(f"{sim.url}/_sim/batches", params={"api": "openai"}).json()["batches"]
    return next(row for row in rows if row["id"] == batch_id)


def test_batch_answers_like_the_synchronous_route(client: openai.OpenAI, sim: RunningSim) -> None:
    tag = new_tag()
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    lines = [
        chat_line("a", f"hello {directive(tag=tag, tokens=3)}"),
        chat_line("b", "two words", max_tokens=2),
        chat_line("c", "call it", tools=[weather], tool_choice="required"),
    ]
    created = submit(client, lines)
    assert (created.object, created.status, created.endpoint) == (
        "batch",
        "validating",
        lines[0]["url"],
    )
    assert created.id.startswith("batch_")
    batch = client.batches.retrieve(created.id)
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (3, 3)
    assert batch.error_file_id is None and batch.output_file_id is not None
    assert batch.completed_at is not None and batch.in_progress_at is not None
    assert batch.metadata == {"sim_delay_ms": "0"}
    out = lines_of(client, batch.output_file_id)
    assert set(out) == {"a", "b", "c"}
    for row in out.values():
        assert row["id"].startswith("batch_req_") and row["error"] is None
        assert row["response"]["status_code"] == 200 and row["response"]["request_id"]
    first = out["a"]["response"]["body"]
    assert first["object"] == "chat.completion"
    assert first["choices"][0]["message"]["content"] == text_of(3)
    assert first["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    assert out["b"]["response"]["body"]["choices"][0]["finish_reason"] == "length"
    call = out["c"]["response"]["body"]["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    output_file = client.files.retrieve(batch.output_file_id)
    assert (output_file.purpose, output_file.filename) == (
        "batch_output",
        f"{batch.id}_output.jsonl",
    )
    assert sim.stats(tag) == []
    seen = sim_batch(sim, batch.id)
    assert (seen["status"], seen["polls"], seen["result_fetches"]) == ("completed", 1, 1)
    assert seen["custom_ids"] == ["a", "b", "c"]
    assert seen["request_counts"] == {"total": 3, "completed": 3, "failed": 0}


def test_item_failures_go_to_the_error_file(client: openai.OpenAI) -> None:
    lines = [
        chat_line("ok", "fine"),
        chat_line("e500", directive(error=500)),
        chat_line("e429", directive(error=429)),
        chat_line("bad", "[sim nonsense=1]"),
    ]
    batch = wait_ended(client, submit(client, lines).id)
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 3)
    assert set(lines_of(client, batch.output_file_id)) == {"ok"}
    errors = lines_of(client, batch.error_file_id)
    statuses = {key: row["response"]["status_code"] for key, row in errors.items()}
    assert statuses == {"e500": 500, "e429": 429, "bad": 400}
    assert errors["e429"]["response"]["body"]["error"]["code"] == "rate_limit_exceeded"
    assert errors["e500"]["response"]["body"]["error"]["type"] == "server_error"
    assert all(row["error"] is None for row in errors.values())


def test_fail_rate_is_seeded(sim_factory) -> None:
    def failed_ids() -> set[str]:
        sim = sim_factory(batch_delay_ms=0, batch_fail_rate=0.5, seed=7)
        client = openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)
        uploaded = client.files.create(
            file=("in.jsonl", jsonl([chat_line(f"r{i}", "hi") for i in range(20)])),
            purpose="batch",
        )
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch = client.batches.retrieve(batch.id)
        assert batch.request_counts is not None
        assert batch.request_counts.completed + batch.request_counts.failed == 20
        return set(lines_of(client, batch.error_file_id))

    first = failed_ids()
    assert 0 < len(first) < 20
    assert failed_ids() == first


def test_invalid_input_file_fails_the_batch(client: openai.OpenAI) -> None:
    wrong_url = {**chat_line("d", "x"), "url": "/v1/embeddings"}
    lines = [chat_line("a", "x"), "{not json", chat_line("c", "x", model="other"), wrong_url]
    batch = wait_ended(client, submit(client, lines).id)
    assert batch.status == "failed" and batch.failed_at is not None
    assert batch.errors is not None and batch.errors.data is not None
    found = [(e.line, e.code) for e in batch.errors.data]
    assert found == [(2, "invalid_json_line"), (3, "mismatched_model"), (4, "invalid_url")]
    assert batch.output_file_id is None and batch.error_file_id is None
    assert batch.request_counts is not None and batch.request_counts.total == 0


def test_statuses_progress_over_the_delay(client: openai.OpenAI) -> None:
    started = time.monotonic()
    created = submit(client, [chat_line(f"r{i}", "hi") for i in range(10)], delay_ms=300)
    statuses = [created.status]
    while statuses[-1] != "completed":
        statuses.append(client.batches.retrieve(created.id).status)
        assert time.monotonic() - started < 5
        time.sleep(0.01)
    assert time.monotonic() - started >= 0.3
    order = ["validating", "in_progress", "finalizing", "completed"]
    seen = list(dict.fromkeys(statuses))
    assert seen == [s for s in order if s in seen]
    assert len(seen) >= 3  # polled at least once between creation and the end


def test_directive_in_the_first_line_sets_the_delay(client: openai.OpenAI) -> None:
    lines = [chat_line("a", directive(batch_delay_ms=0)), chat_line("b", "x")]
    uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    created = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert client.batches.retrieve(created.id).status == "completed"


def test_cancel_keeps_partial_output(client: openai.OpenAI) -> None:
    created = submit(client, [chat_line(f"r{i}", "hi") for i in range(20)], delay_ms=2000)
    time.sleep(0.5)
    cancelling = client.batches.cancel(created.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    batch = wait_ended(client, created.id)
    assert batch.status == "cancelled" and batch.cancelled_at is not None
    assert batch.request_counts is not None
    done = batch.request_counts.completed
    assert 0 < done < 20
    assert len(lines_of(client, batch.output_file_id)) == done
    errors = lines_of(client, batch.error_file_id)
    assert len(errors) == 20 - done
    assert {row["error"]["code"] for row in errors.values()} == {"batch_cancelled"}
    assert all(row["response"] is None for row in errors.values())
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(created.id)


def test_expired_batch(client: openai.OpenAI) -> None:
    lines = [chat_line(f"r{i}", "hi") for i in range(10)]
    batch = wait_ended(client, submit(client, lines, sim_expire="1").id)
    assert batch.status == "expired" and batch.expired_at is not None
    assert batch.request_counts is not None and batch.request_counts.completed == 5
    errors = lines_of(client, batch.error_file_id)
    assert len(errors) == 5
    assert {row["error"]["code"] for row in errors.values()} == {"batch_expired"}


def test_embeddings_and_completions_endpoints(client: openai.OpenAI) -> None:
    for url, body in [
        ("/v1/embeddings", {"model": "sim-embed", "input": "abc", "dimensions": 4}),
        ("/v1/completions", {"model": "sim-gpt", "prompt": "say [sim tokens=2]"}),
    ]:
        line = {"custom_id": "x", "method": "POST", "url": url, "body": body}
        batch = wait_ended(client, submit(client, [line]).id)
        answer = lines_of(client, batch.output_file_id)["x"]["response"]["body"]
        if url == "/v1/embeddings":
            assert len(answer["data"][0]["embedding"]) == 4
        else:
            assert answer["choices"][0]["text"] == text_of(2)


def test_create_refusals(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("in.jsonl", jsonl([chat_line("a", "x")])), purpose="batch")
    with pytest.raises(openai.NotFoundError):
        client.batches.create(
            input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.BadRequestError):
        client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/moderations",  # type: ignore[arg-type]
            completion_window="24h",
        )
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_missing")
