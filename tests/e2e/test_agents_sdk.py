"""The openai-agents SDK in its default mode (the Responses API model) through the gateway:
a function tool round trip, run whole and streamed, with the ledger rows of both turns."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import (
    Agent,
    ModelSettings,
    RunConfig,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.models.openai_provider import OpenAIProvider
from openai import AsyncOpenAI

from tests.servers import ServerProcess, start_gateway

from .responses_helpers import NATIVE, responses_config
from .vendors import new_tag, say

set_tracing_disabled(True)  # the SDK would export traces to OpenAI's servers
CALLED: list[str] = []


@function_tool
def get_weather(location: str) -> str:
    """The weather at a place."""
    CALLED.append(location)
    return f"It is sunny in {location}."


@pytest.fixture(scope="module")
def gateway(tmp_session: Path, sim: ServerProcess) -> Iterator[ServerProcess]:
    server = start_gateway(tmp_session, responses_config(sim.url))
    yield server
    server.stop()


def run_config(gateway: ServerProcess) -> RunConfig:
    client = AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="key-chat", max_retries=0)
    return RunConfig(model_provider=OpenAIProvider(openai_client=client))


def agent() -> Agent:
    return Agent(
        name="weather",
        instructions="Answer with the weather tool.",
        model=NATIVE,
        tools=[get_weather],
        model_settings=ModelSettings(max_tokens=64),
    )


def test_tool_round_trip(gateway: ServerProcess) -> None:
    CALLED.clear()
    result = asyncio.run(
        Runner.run(agent(), say(new_tag(), "tool_calls=1"), run_config=run_config(gateway),
                   max_turns=4)
    )
    assert CALLED == ["San Francisco"]
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert len(result.final_output.split()) == 12
    assert len(result.raw_responses) == 2


def test_tool_round_trip_streamed(gateway: ServerProcess) -> None:
    CALLED.clear()

    async def run() -> list[str]:
        streamed = Runner.run_streamed(
            agent(), say(new_tag(), "tool_calls=1"), run_config=run_config(gateway), max_turns=4
        )
        deltas = [
            event.data.delta
            async for event in streamed.stream_events()
            if event.type == "raw_response_event" and event.data.type.endswith("text.delta")
        ]
        assert len(streamed.final_output.split()) == 12
        return deltas

    assert len(asyncio.run(run())) == 12
    assert CALLED == ["San Francisco"]
