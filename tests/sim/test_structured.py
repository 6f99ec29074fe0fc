"""Structured outputs (JSON matching the request's schema) and the end of a tool loop."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

import anthropic
import httpx
import openai
import pydantic
import pytest

from gateway.sim.schema_json import instance

from .conftest import RunningSim
from .helpers import directive, new_tag


class Unit(StrEnum):
    celsius = "celsius"
    kelvin = "kelvin"


class Reading(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    city: str
    temperature: float
    unit: Unit
    rank: int = pydantic.Field(ge=10, le=12)


class Forecast(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    title: str
    readings: list[Reading]
    note: str | None
    kind: Literal["daily", "hourly"]
    tags: list[str] = pydantic.Field(min_length=3)
    extra: dict[str, Any] | None = None
    done: bool


class Plain(pydantic.BaseModel):
    """No numeric or length bounds: Anthropic's SDK leaves those out of the schema it sends."""

    city: str
    temperature: float
    unit: Unit
    when: list[int]


class Tree(pydantic.BaseModel):
    name: str
    children: list[Tree]


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_instances_validate_against_pydantic_schemas(seed: int) -> None:
    for model in (Forecast, Reading, Tree):
        value = instance(model.model_json_schema(), seed)
        model.model_validate_json(json.dumps(value))  # raises if it does not fit
    assert instance(Forecast.model_json_schema(), seed) == instance(
        Forecast.model_json_schema(), seed
    )


def test_instances_for_gemini_and_bare_schemas() -> None:
    gemini = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}, "ok": {"type": "BOOLEAN"}}}
    value = instance(gemini)
    assert isinstance(value["n"], int) and isinstance(value["ok"], bool)
    assert instance({"type": ["null", "string"]}) == "San Francisco"
    assert instance({"const": 3}) == 3
    assert isinstance(instance({"type": "number", "exclusiveMinimum": 100}), float)
    assert instance({"type": "number", "exclusiveMinimum": 100}) > 100
    assert instance({"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}]}) == {
        "a": 1
    }


@pytest.fixture
def oai(sim: RunningSim) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)


def test_chat_parse_with_a_pydantic_model(oai: openai.OpenAI) -> None:
    result = oai.chat.completions.parse(
        model="sim-gpt",
        messages=[{"role": "user", "content": "a forecast please"}],
        response_format=Forecast,
    )
    parsed = result.choices[0].message.parsed
    assert isinstance(parsed, Forecast) and len(parsed.tags) >= 3
    assert all(10 <= r.rank <= 12 for r in parsed.readings)


def test_chat_stream_json_object_and_schema(oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(
        model="sim-gpt",
        messages=[{"role": "user", "content": "stream it"}],
        response_format=Reading,
    ) as stream:
        chunks = [e for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert len(chunks) > 3  # the JSON arrives in pieces
    assert isinstance(final.choices[0].message.parsed, Reading)
    plain = oai.chat.completions.create(
        model="sim-gpt",
        messages=[{"role": "user", "content": "json"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(plain.choices[0].message.content or ""), dict)


def test_anthropic_output_format(sim: RunningSim) -> None:
    client = anthropic.Anthropic(base_url=sim.url, api_key="k", max_retries=0)
    message = client.messages.parse(
        model="sim-claude",
        max_tokens=500,
        messages=[{"role": "user", "content": "a reading"}],
        output_format=Plain,
    )
    assert isinstance(message.parsed_output, Plain)


def test_gemini_json_schema(sim: RunningSim) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "json"}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseJsonSchema": Reading.model_json_schema(),
        },
    }
    response = httpx.post(f"{sim.url}/v1beta/models/sim-gemini:generateContent", json=body)
    text = response.json()["candidates"][0]["content"]["parts"][0]["text"]
    Reading.model_validate_json(text)


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


def test_openai_tool_loop_ends_after_the_tool_result(oai: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": f"weather? {directive(tool_calls=1, tag=new_tag())}"}
    ]
    first = oai.chat.completions.create(model="sim-gpt", messages=messages, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert isinstance(json.loads(call.function.arguments)["days"], int)  # typed by the schema
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = oai.chat.completions.create(
        model="sim-gpt", messages=messages, tools=[WEATHER], tool_choice="required"
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.tool_calls is None and second.choices[0].message.content


def test_anthropic_and_gemini_tool_loops_end_after_the_result(sim: RunningSim) -> None:
    client = anthropic.Anthropic(base_url=sim.url, api_key="k", max_retries=0)
    tool = {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}
    answer = client.messages.create(
        model="sim-claude",
        max_tokens=100,
        tools=[tool],  # type: ignore[list-item]
        tool_choice={"type": "any"},
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
        ],
    )  # fmt: skip
    assert answer.stop_reason == "end_turn" and answer.content[0].type == "text"
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "get_weather"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    }  # fmt: skip
    response = httpx.post(f"{sim.url}/v1beta/models/sim-gemini:generateContent", json=body)
    assert "text" in response.json()["candidates"][0]["content"]["parts"][0]


def test_counting_and_gemini_embeddings(sim: RunningSim) -> None:
    client = anthropic.Anthropic(base_url=sim.url, api_key="k", max_retries=0)
    count = client.messages.count_tokens(
        model="sim-claude", system="be brief", messages=[{"role": "user", "content": "one two"}]
    )
    assert count.input_tokens == 4
    base = f"{sim.url}/v1beta/models/sim-gemini"
    contents = [{"role": "user", "parts": [{"text": "one two three"}]}]
    assert httpx.post(f"{base}:countTokens", json={"contents": contents}).json() == {
        "totalTokens": 3
    }
    one = httpx.post(f"{base}:embedContent", json={"content": contents[0]}).json()
    assert len(one["embedding"]["values"]) == 16
    many = httpx.post(
        f"{base}:batchEmbedContents",
        json={"requests": [{"content": contents[0], "outputDimensionality": 4}] * 2},
    ).json()
    assert [len(e["values"]) for e in many["embeddings"]] == [4, 4]
    assert many["embeddings"][0] == many["embeddings"][1]
