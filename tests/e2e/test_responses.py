"""`/v1/responses` through the real `openai` SDK, for a native Responses upstream and for
translated ones (chat completions, Anthropic, Gemini): whole, streamed, the stream helper,
structured output, tools, limits, errors, abort, the stored responses and their ledger rows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.conftest import sim_records
from tests.servers import SIM_KEY, ServerProcess, start_gateway

from .responses_helpers import MODELS, NATIVE, WEATHER_TOOL, responses_config
from .vendors import closed_record, ledger_record, new_tag, one_record, say


class Weather(BaseModel):
    city: str
    celsius: float
    windy: bool


@pytest.fixture(scope="module")
def gateway(tmp_session: Path, sim: ServerProcess) -> Iterator[ServerProcess]:
    server = start_gateway(tmp_session, responses_config(sim.url))
    yield server
    server.stop()


@pytest.fixture
def client(gateway: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-chat", max_retries=0,
                         timeout=10)


@pytest.mark.parametrize("model", MODELS)
def test_whole_response_and_its_ledger_row(
    client: openai.OpenAI, gateway: ServerProcess, sim: ServerProcess, model: str
) -> None:
    tag = new_tag()
    raw = client.responses.with_raw_response.create(
        model=model, instructions="be brief", input=say(tag)
    )
    response = raw.parse()
    assert response.object == "response" and response.status == "completed"
    assert len(response.output_text.split()) == 12
    assert response.usage.output_tokens == 12 and response.usage.input_tokens > 0
    record = one_record(sim, tag)
    assert record["api_key"] == SIM_KEY
    assert record["path"].endswith("/responses" if model == NATIVE else "")
    row = ledger_record(gateway, raw.headers["x-gateway-request-id"])
    assert (row["route"], row["status"], row["model"]) == ("responses", "completed", model)
    assert row["completion_tokens"] == 12


@pytest.mark.parametrize("model", MODELS)
def test_stream_semantic_events(client: openai.OpenAI, model: str) -> None:
    events = list(client.responses.create(model=model, stream=True, input=say(new_tag())))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert {"response.output_item.added", "response.content_part.added",
            "response.output_text.done", "response.content_part.done",
            "response.output_item.done"} <= set(kinds)
    assert kinds.count("response.output_text.delta") == 12
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert len(events[-1].response.output_text.split()) == 12


@pytest.mark.parametrize("model", MODELS)
def test_stream_helper_and_tool_calls(client: openai.OpenAI, model: str) -> None:
    with client.responses.stream(
        model=model, tools=[WEATHER_TOOL], input=say(new_tag(), "tool_calls=2")
    ) as stream:
        deltas = [e for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [
        {"location": "San Francisco", "unit": "Paris"},
        {"location": "Paris", "unit": "Tokyo"},
    ]
    assert all(c.name == "get_weather" and c.call_id for c in calls)
    assert len(deltas) >= 2


def test_parse_with_a_pydantic_text_format(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(model=NATIVE, input="weather in Oslo", text_format=Weather)
    assert isinstance(parsed.output_parsed, Weather)


@pytest.mark.parametrize("model", MODELS)
def test_max_output_tokens_is_incomplete(client: openai.OpenAI, model: str) -> None:
    response = client.responses.create(model=model, max_output_tokens=3, input=say(new_tag()))
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    events = list(client.responses.create(
        model=model, stream=True, max_output_tokens=3, input=say(new_tag())
    ))
    assert events[-1].type == "response.incomplete"


@pytest.mark.parametrize("model", MODELS)
def test_error_after_the_stream_began_is_response_failed(client: openai.OpenAI,
                                                         model: str) -> None:
    events = list(client.responses.create(
        model=model, stream=True, input=say(new_tag(), "error=mid_stream")
    ))
    assert events[-1].type == "response.failed"
    assert "error" not in [e.type for e in events]
    assert events[-1].response.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))


@pytest.mark.parametrize("model", MODELS)
def test_upstream_error_before_the_stream(client: openai.OpenAI, model: str) -> None:
    for stream in (False, True):
        with pytest.raises(openai.RateLimitError) as info:
            client.responses.create(model=model, stream=stream,
                                    input=say(new_tag(), "error=429"))
        assert SIM_KEY not in info.value.response.text


@pytest.mark.parametrize("model", ["claude-test", "gemini-test", "gpt-test"])
def test_function_tool_round_trip_translated(client: openai.OpenAI, model: str) -> None:
    history: list = [{"role": "user", "content": "Weather in Oslo and Lima?"}]
    first = client.responses.create(
        model=model, tools=[WEATHER_TOOL], tool_choice="required", input=history
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and first.status == "completed"
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history += [{"type": "function_call_output", "call_id": c.call_id, "output": "rain"}
                for c in calls]
    second = client.responses.create(model=model, tools=[WEATHER_TOOL], input=history)
    assert [item.type for item in second.output] == ["message"] and second.output_text


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        ("claude-test", {"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ("gpt-test", {"tools": [{"type": "file_search", "vector_store_ids": ["v"]}]},
         "tools[0].type"),
        ("claude-test", {"text": {"format": {"type": "json_object"}}}, "text.format"),
        ("gemini-test", {"reasoning": {"effort": "high"}}, "reasoning"),
        ("claude-test", {"include": ["message.output_text.logprobs"]}, "include"),
        ("gemini-test", {"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ],
)
def test_untranslatable_fields_are_a_400_naming_them(
    client: openai.OpenAI, model: str, extra: dict, param: str
) -> None:
    body = {"input": "hi", **extra}
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=model, **body)
    assert info.value.param == param
    assert f"'{param}' cannot be translated" in info.value.message


def test_stored_response_routes(client: openai.OpenAI, gateway: ServerProcess) -> None:
    first = client.responses.create(model="gpt-test", input="one two")
    second = client.responses.create(
        model=NATIVE, previous_response_id=first.id,
        input=[{"role": "user", "content": "three"}, {"role": "user", "content": "four"}],
    )
    assert client.responses.retrieve(second.id).output_text == second.output_text
    items = client.responses.input_items.list(second.id)
    assert [i.content[0].text for i in items.data] == ["four", "three"]
    page = client.responses.input_items.list(second.id, order="asc", limit=1)
    assert [i.content[0].text for i in page.data] == ["three"] and page.has_more
    rest = client.responses.input_items.list(second.id, order="asc", after=page.data[0].id)
    assert [i.content[0].text for i in rest.data] == ["four"]
    other = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-etl", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(second.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="gpt-test", input="x", previous_response_id=first.id)
    client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(second.id)
    unstored = client.responses.create(model="gpt-test", input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


@pytest.mark.parametrize("model", MODELS)
def test_chain_replays_the_conversation(client: openai.OpenAI, model: str) -> None:
    first = client.responses.create(model=model, input="one two three")
    second = client.responses.create(model=model, previous_response_id=first.id,
                                     input=say(new_tag()))
    # the simulator counts prompt words: 3 + the 12 of the first answer + 4 new ones
    assert second.usage.input_tokens == 3 + 12 + 4
    assert second.previous_response_id == first.id or model == NATIVE


@pytest.mark.parametrize("model", [NATIVE, "gpt-test"])
def test_stream_abort_closes_the_upstream(client: openai.OpenAI, gateway: ServerProcess,
                                          sim: ServerProcess, model: str) -> None:
    tag = new_tag()
    with client.responses.with_streaming_response.create(
        model=model, stream=True, input=say(tag, "tps=20 tokens=200")
    ) as raw:
        call_id = raw.headers["x-gateway-request-id"]
        for event in raw.parse():
            if event.type == "response.output_text.delta":
                break
    left_at = time.time()
    record = closed_record(sim, tag)
    assert record["completed"] is False and record["tokens_sent"] < 200
    assert record["closed_at"] - left_at < 1.0
    row = ledger_record(gateway, call_id)
    assert (row["status"], row["cancel_reason"]) == ("cancelled", "client_disconnect")


@pytest.mark.parametrize("model", [NATIVE, "claude-test"])
def test_non_stream_abort_closes_the_upstream(gateway: ServerProcess, sim: ServerProcess,
                                              model: str) -> None:
    tag = new_tag()
    impatient = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-chat", max_retries=0,
                              timeout=0.5)
    started = time.time()
    with pytest.raises(openai.APITimeoutError):
        impatient.responses.create(model=model, input=say(tag, "ttft_ms=3000"))
    record = closed_record(sim, tag)
    assert record["completed"] is False and record["closed_at"] - started < 1.5


def test_invalid_requests_are_named(gateway: ServerProcess) -> None:
    headers = {"authorization": "Bearer key-chat"}
    for body, param in (
        ({"input": "x"}, "model"),
        ({"model": "gpt-test"}, "input"),
        ({"model": "gpt-test", "input": 3}, "input"),
        ({"model": "gpt-test", "input": "x", "stream": True, "background": True}, "stream"),
        ({"model": "nope", "input": "x"}, "model"),
    ):
        response = httpx.post(f"{gateway.url}/v1/responses", json=body, headers=headers)
        assert response.status_code in (400, 404), response.text
        assert response.json()["error"]["param"] == param


def wait_for(predicate, timeout: float = 5.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail("timed out waiting")


@pytest.mark.parametrize("model", [NATIVE, "claude-test"])
def test_background_response_runs_in_the_gateway(client: openai.OpenAI, model: str) -> None:
    queued = client.responses.create(model=model, background=True, input=say(new_tag()))
    assert queued.status in ("queued", "in_progress") and queued.background
    done = wait_for(lambda: (r := client.responses.retrieve(queued.id)).status == "completed"
                    and r)
    assert done.id == queued.id and len(done.output_text.split()) == 12


@pytest.mark.parametrize("model", [NATIVE, "gpt-test"])
def test_cancel_a_background_response(client: openai.OpenAI, gateway: ServerProcess,
                                      sim: ServerProcess, model: str) -> None:
    tag = new_tag()
    raw = client.responses.with_raw_response.create(
        model=model, background=True, input=say(tag, "tps=20 tokens=200")
    )
    queued = raw.parse()
    wait_for(lambda: sim_tokens(sim, tag) >= 3)
    progress = wait_for(lambda: (r := client.responses.retrieve(queued.id)).output and r)
    assert progress.status == "in_progress"
    cancelled = client.responses.cancel(queued.id)
    asked_at = time.time()
    assert cancelled.status == "cancelled"
    record = closed_record(sim, tag)
    assert record["completed"] is False and record["closed_at"] - asked_at < 1.0
    row = ledger_record(gateway, raw.headers["x-gateway-request-id"])
    assert (row["route"], row["status"], row["cancel_reason"]) == (
        "responses", "cancelled", "explicit")
    assert row["billed_completion_tokens"] >= row["completion_tokens"] >= 3
    assert row["cost_usd"] > 0
    assert client.responses.retrieve(queued.id).status == "cancelled"


def test_only_background_responses_can_be_cancelled(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-test", input="x")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(response.id)


def sim_tokens(sim: ServerProcess, tag: str) -> int:
    records = sim_records(sim, tag)
    return records[0]["tokens_sent"] if records else 0


@pytest.mark.timeout(90)
def test_batch_file_with_responses_lines(client: openai.OpenAI) -> None:
    lines = [
        {"custom_id": model, "method": "POST", "url": "/v1/responses",
         "body": {"model": model, "instructions": "be brief", "input": f"batch {model}"}}
        for model in MODELS
    ]
    data = b"\n".join(json.dumps(line).encode() for line in lines)
    uploaded = client.files.create(file=("responses.jsonl", data), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
    )
    batch = wait_for(
        lambda: (b := client.batches.retrieve(batch.id)).status == "completed" and b, 60
    )
    assert batch.request_counts.completed == len(MODELS)
    output = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
    assert sorted(item["custom_id"] for item in output) == sorted(MODELS)
    for item in output:
        body = item["response"]["body"]
        assert (body["object"], body["status"]) == ("response", "completed")
        assert len(body["output"][0]["content"][0]["text"].split()) == 12


def test_batch_lines_refuse_what_only_runs_live(client: openai.OpenAI) -> None:
    line = {"custom_id": "a", "method": "POST", "url": "/v1/responses",
            "body": {"model": "gpt-test", "input": "x", "previous_response_id": "resp_1"}}
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("r.jsonl", json.dumps(line).encode()), purpose="batch")
    assert "previous_response_id" in info.value.message


def test_a_deferred_responses_call(client: openai.OpenAI, gateway: ServerProcess) -> None:
    raw = client.responses.with_raw_response.create(
        model="claude-test", input="later", extra_headers={"x-gateway-mode": "batch"}
    )
    assert raw.http_response.status_code == 202
    call_id = raw.http_response.json()["id"]
    record = wait_for(
        lambda: (r := ledger_record(gateway, call_id)).get("status") == "completed" and r, 30
    )
    assert (record["route"], record["mode"]) == ("responses", "batch")
    assert record["response"]["object"] == "response" and record["response"]["output"]
