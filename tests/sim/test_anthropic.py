"""The Anthropic Messages route through the real `anthropic` SDK."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from gateway.sim.words import text_of

from .conftest import RunningSim
from .helpers import directive, new_tag

WEATHER = {
    "name": "get_weather",
    "description": "Weather at a place",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
}


@pytest.fixture
def client(sim: RunningSim) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.url, api_key="k", max_retries=0)


def test_non_stream_message(client: anthropic.Anthropic, sim: RunningSim) -> None:
    tag = new_tag()
    message = client.messages.create(
        model="claude-sim",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": f"Hello there {directive(tag=tag, tokens=4)}"}],
    )
    assert message.type == "message"
    assert message.content[0].type == "text"
    assert message.content[0].text == text_of(4)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 2 + 5
    assert message.usage.output_tokens == 4
    record = sim.record(tag)
    assert record["api"] == "anthropic"
    assert record["api_key"] == "k"
    assert record["completed"] is True


def test_max_tokens_stop_reason(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="c", max_tokens=3, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3


def test_stream_events_and_final_message(client: anthropic.Anthropic, sim: RunningSim) -> None:
    tag = new_tag()
    with client.messages.stream(
        model="c",
        max_tokens=100,
        messages=[{"role": "user", "content": [{"type": "text", "text": directive(tag=tag)}]}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert kinds.count("text") == 16
    assert final.content[0].text == text_of(16)
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 16
    assert sim.record(tag)["tokens_sent"] == 16


def test_raw_stream_order_and_ping(sim: RunningSim) -> None:
    body = {
        "model": "c",
        "max_tokens": 2,
        "stream": True,
        "messages": [{"role": "user", "content": "one two three"}],
    }
    response = httpx.post(f"{sim.url}/v1/messages", json=body)
    events = [e for e in response.text.split("\n\n") if e]
    names = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [json.loads(e.split("\n")[1].removeprefix("data: ")) for e in events]
    assert [p["type"] for p in payloads] == names
    assert payloads[0]["message"]["usage"]["input_tokens"] == 3
    assert payloads[0]["message"]["usage"]["output_tokens"] == 1
    assert payloads[-2]["delta"]["stop_reason"] == "max_tokens"
    assert payloads[-2]["usage"]["output_tokens"] == 2


def test_forced_tool_use_non_stream(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="c",
        max_tokens=100,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "weather?"}],
    )
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use"
    assert block.name == "get_weather"
    assert block.input == {"location": "San Francisco"}


def test_streamed_parallel_tool_use(client: anthropic.Anthropic, sim: RunningSim) -> None:
    tag = new_tag()
    with client.messages.stream(
        model="c",
        max_tokens=100,
        tools=[WEATHER],
        messages=[{"role": "user", "content": f"go {directive(tag=tag, tool_calls=2)}"}],
    ) as stream:
        partials = [e.delta.partial_json for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert partials[0] == ""
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["tool_use", "tool_use"]
    assert all(set(b.input) == {"location"} for b in final.content)
    assert final.content[0].id != final.content[1].id
    fragments = sum(1 for p in partials if p)
    assert final.usage.output_tokens == fragments == sim.record(tag)["tokens_sent"]


def test_overloaded_is_529(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="c",
            max_tokens=10,
            messages=[{"role": "user", "content": directive(error="overloaded")}],
        )
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_rate_limit_shape(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(
            model="c", max_tokens=10, messages=[{"role": "user", "content": directive(error=429)}]
        )
    assert caught.value.body["error"]["type"] == "rate_limit_error"


def test_mid_stream_overloaded_event(client: anthropic.Anthropic, sim: RunningSim) -> None:
    tag = new_tag()
    with pytest.raises(anthropic.APIStatusError) as caught:
        with client.messages.stream(
            model="c",
            max_tokens=100,
            messages=[{"role": "user", "content": directive(error="mid_stream", tag=tag)}],
        ) as stream:
            for _ in stream:
                pass
    assert "overloaded_error" in str(caught.value.body)
    record = sim.record(tag)
    assert (record["tokens_sent"], record["completed"]) == (2, False)


def test_periodic_pings(sim_factory) -> None:
    pinging = sim_factory(ttft_ms=0, tokens_per_second=20, ping_every_ms=10)
    body = {
        "model": "c",
        "max_tokens": 3,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    text = httpx.post(f"{pinging.url}/v1/messages", json=body).text
    assert text.count("event: ping") >= 6
    assert text.count("event: content_block_delta") == 3
