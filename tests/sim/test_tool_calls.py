"""Tool calls in the OpenAI shape: fragments reassemble to valid JSON, parallel calls, finish."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from .conftest import RunningSim
from .helpers import directive, new_tag

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"properties": {"zone": {"type": "string"}}}},
}


@pytest.fixture
def client(sim: RunningSim) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)


def test_required_tool_choice_non_stream(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice="required",
    )
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"location": "San Francisco", "unit": "Paris"}


def test_named_tool_choice(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "time?"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = result.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_time"]


def test_tools_without_choice_or_directive_answer_text(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER_TOOL]
    )
    assert result.choices[0].finish_reason == "stop"
    assert result.choices[0].message.tool_calls is None


def collect_tool_stream(chunks: list[Any]) -> dict[int, dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if not chunk.choices:
            continue
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"fragments": [], "id": None, "name": None})
            if delta.id is not None:
                assert call["id"] is None, "id only on the first fragment"
                call["id"], call["name"] = delta.id, delta.function.name
            call["fragments"].append(delta.function.arguments)
    return calls


def test_parallel_tool_call_stream_reassembles(client: openai.OpenAI, sim: RunningSim) -> None:
    tag = new_tag()
    stream = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": f"go {directive(tag=tag, tool_calls=3)}"}],
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    calls = collect_tool_stream(chunks)
    assert sorted(calls) == [0, 1, 2]
    fragments = 0
    for call in calls.values():
        assert call["name"] == "get_weather"
        assert 2 <= len(call["fragments"]) <= 6
        args = json.loads("".join(call["fragments"]))
        assert set(args) == {"location", "unit"}
        assert all(isinstance(v, str) for v in args.values())
        fragments += len(call["fragments"])
    assert len({c["id"] for c in calls.values()}) == 3
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == fragments
    assert sim.record(tag)["tokens_sent"] == fragments


def test_first_fragment_carries_id_type_and_name(sim: RunningSim) -> None:
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "go"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
    }
    with httpx.stream("POST", f"{sim.url}/v1/chat/completions", json=body) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: {")]
    deltas = [json.loads(line[6:])["choices"][0]["delta"] for line in lines]
    tool_deltas = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    first, rest = tool_deltas[0], tool_deltas[1:]
    assert first["id"] and first["type"] == "function"
    assert first["function"]["name"] == "get_weather"
    assert "arguments" in first["function"]
    assert rest and all(set(d) == {"index", "function"} for d in rest)
    assert all(set(d["function"]) == {"arguments"} for d in rest)
