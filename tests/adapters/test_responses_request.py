"""A Responses API body decoded for chat-shaped upstreams: turns from input items, the
system prompt from instructions and system/developer messages, and refusals by field name."""

from __future__ import annotations

import pytest

from gateway.errors import BadRequest
from gateway.translate.responses_request import decode_responses
from gateway.translate.types import ImagePart, TextPart, ToolCall, ToolResult

PNG = "data:image/png;base64,iVBORw0KGgo="


def test_items_become_turns() -> None:
    chat = decode_responses(
        {
            "model": "m",
            "instructions": "be brief",
            "input": [
                {"role": "developer", "content": "use tools"},
                {"role": "user", "content": [
                    {"type": "input_text", "text": "what is this?"},
                    {"type": "input_image", "image_url": PNG, "detail": "auto"},
                ]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "c1", "name": "look", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "look", "arguments": ""},
                {"type": "function_call_output", "call_id": "c1", "output": "a cat"},
                {"type": "function_call_output", "call_id": "c2", "output": "a hat"},
                {"role": "user", "content": "thanks"},
            ],
            "max_output_tokens": 9,
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
        },
        "anthropic",
    )
    assert chat.system == "be brief\n\nuse tools" and chat.max_tokens == 9
    assert [m.role for m in chat.messages] == ["user", "assistant", "user", "user"]
    first, calls, results, last = chat.messages
    assert isinstance(first.parts[1], ImagePart) and first.parts[1].media_type == "image/png"
    assert calls.parts == [ToolCall("c1", "look", "{}"), ToolCall("c2", "look", "{}")]
    assert [p.call_id for p in results.parts if isinstance(p, ToolResult)] == ["c1", "c2"]
    assert last.parts == [TextPart("thanks")]
    assert chat.response_format is not None and chat.response_format.type == "json_schema"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
         "input[0].content[0]"),
        ({"tools": [{"type": "web_search_preview"}]}, "tools[0].type"),
        ({"tool_choice": {"type": "allowed_tools", "tools": []}}, "tool_choice"),
        ({"text": {"verbosity": "low"}}, "text.verbosity"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"reasoning": {"effort": "low", "summary": "auto"}}, "reasoning"),
    ],
)
def test_refusals_name_the_field(extra: dict, param: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode_responses({"model": "m", "input": "hi", **extra}, "openai")
    assert info.value.param == param


def test_reasoning_effort_reaches_openai_kind_servers_only() -> None:
    body = {"model": "m", "input": "hi", "reasoning": {"effort": "low"}}
    assert decode_responses(body, "openai").reasoning_effort == "low"
    with pytest.raises(BadRequest):
        decode_responses(body, "gemini")
