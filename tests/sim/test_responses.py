"""The simulator's Responses API through the real `openai` SDK: whole and streamed responses,
tool calls split anywhere, structured output matching the schema, the end of a tool loop,
max_output_tokens, injected errors, and abort seen in the stats."""

from __future__ import annotations

import json
import time

import openai
import pytest
from pydantic import BaseModel

from gateway.sim.schema_json import instance
from gateway.sim.words import text_of

from .conftest import RunningSim
from .helpers import directive, new_tag

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
        },
    }
]


class Forecast(BaseModel):
    city: str
    days: int
    rain: bool
    temps: list[float]


@pytest.fixture
def client(sim: RunningSim) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)


def test_whole_response(client: openai.OpenAI, sim: RunningSim) -> None:
    tag = new_tag()
    response = client.responses.create(
        model="sim-gpt", instructions="be brief", input=f"hi {directive(tag=tag, tokens=5)}"
    )
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == text_of(5)
    assert response.instructions == "be brief"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2 + 4, 5)
    record = sim.record(tag)
    assert (record["path"], record["completed"]) == ("/v1/responses", True)
    assert record["tokens_sent"] == 5


def test_stream_events_in_order(client: openai.OpenAI) -> None:
    events = list(
        client.responses.create(
            model="sim-gpt", stream=True, input=f"hi {directive(tag=new_tag(), tokens=4)}"
        )
    )
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds.count("response.output_text.delta") == 4
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.output_text == text_of(4)
    assert events[-1].response.usage.output_tokens == 4


def test_tool_calls_streamed_in_fragments(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="sim-gpt", tools=TOOLS, input=f"weather? {directive(tag=new_tag(), tool_calls=2)}"
    ) as stream:
        deltas = [e for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [
        {"city": "San Francisco", "unit": "C"},
        {"city": "Paris", "unit": "F"},
    ]
    assert len(deltas) >= 4 and len({c.call_id for c in calls}) == 2


def test_tool_loop_ends_after_a_tool_result(client: openai.OpenAI) -> None:
    ask = f"weather? {directive(tag=new_tag(), tool_calls=1)}"
    first = client.responses.create(model="sim-gpt", tools=TOOLS, input=ask)
    (call,) = [item for item in first.output if item.type == "function_call"]
    history = [
        {"role": "user", "content": ask},
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = client.responses.create(model="sim-gpt", tools=TOOLS, input=history)
    assert [item.type for item in second.output] == ["message"]
    assert second.output_text


def test_parse_with_a_pydantic_format(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(model="sim-gpt", input="forecast", text_format=Forecast)
    assert isinstance(parsed.output_parsed, Forecast)
    with client.responses.stream(model="sim-gpt", input="forecast", text_format=Forecast) as s:
        assert isinstance(s.get_final_response().output_parsed, Forecast)


def test_schema_values_follow_refs_and_bounds() -> None:
    schema = {
        "type": "object",
        "properties": {
            "item": {"$ref": "#/$defs/Item"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 3}]},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 9}, "minItems": 2},
        },
        "$defs": {"Item": {"type": "object", "properties": {"kind": {"const": "x"}}}},
    }
    value = instance(schema)
    assert value["item"] == {"kind": "x"} and value["maybe"] == 3
    assert len(value["tags"]) == 2 and all(len(tag) >= 9 for tag in value["tags"])


def test_max_output_tokens_is_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="sim-gpt", max_output_tokens=3, input=f"hi {directive(tokens=10)}"
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    events = list(
        client.responses.create(
            model="sim-gpt", stream=True, max_output_tokens=3, input=f"hi {directive(tokens=10)}"
        )
    )
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.usage.output_tokens == 3


def test_injected_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="sim-gpt", input=f"hi {directive(error=429)}")
    events = list(
        client.responses.create(
            model="sim-gpt", stream=True, input=f"hi {directive(error='mid_stream')}"
        )
    )
    assert events[-1].type == "error"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events].count("response.output_text.delta") == 2


def test_abort_is_recorded(client: openai.OpenAI, sim: RunningSim) -> None:
    tag = new_tag()
    stream = client.responses.create(
        model="sim-gpt", stream=True, input=f"hi {directive(tag=tag, tps=20, tokens=100)}"
    )
    for event in stream:
        if event.type == "response.output_text.delta":
            break
    stream.close()
    record = sim.record(tag, lambda r: r["closed_at"] is not None)
    assert record["completed"] is False and record["tokens_sent"] < 100
    assert record["closed_at"] <= time.time()
