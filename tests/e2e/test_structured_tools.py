"""Through the gateway with the real `openai` SDK against the simulator: `.parse()` with a
pydantic response format, and a tool loop that ends once the tool's result is given back."""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
import pytest

from .vendors import OPENAI_TOOLS, new_tag


class Step(pydantic.BaseModel):
    explanation: str
    output: str


class Solution(pydantic.BaseModel):
    steps: list[Step]
    final_answer: str
    confidence: float | None


@pytest.mark.parametrize("model", ["gpt-test", "gemini-test"])
def test_chat_completions_parse(client: openai.OpenAI, model: str) -> None:
    completion = client.chat.completions.parse(
        model=model,
        messages=[{"role": "user", "content": "solve 8x + 7 = -23"}],
        response_format=Solution,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Solution) and parsed.steps


@pytest.mark.parametrize("model", ["gpt-test", "claude-test", "gemini-test"])
def test_tool_loop_ends_after_the_tool_result(client: openai.OpenAI, model: str) -> None:
    messages: list[Any] = [
        {"role": "user", "content": f"weather in Paris? [sim tag={new_tag()} tool_calls=1]"}
    ]
    for _turn in range(5):
        completion = client.chat.completions.create(
            model=model, messages=messages, tools=OPENAI_TOOLS  # type: ignore[arg-type]
        )
        message = completion.choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            arguments = json.loads(call.function.arguments)  # type: ignore[union-attr]
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": f"sunny, {arguments}"}
            )
    assert completion.choices[0].finish_reason == "stop" and message.content
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
