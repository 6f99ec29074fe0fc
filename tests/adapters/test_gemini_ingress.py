"""The Gemini ingress's translation pieces: the Gemini request decoder and the Gemini encoder
(parsed back by the Gemini provider's own parser, however the bytes are split)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import BadRequest
from gateway.providers.gemini_stream import parse_generation
from gateway.translate.gemini_request import decode_generate, json_schema
from gateway.translate.gemini_response import GeminiEncoder
from gateway.translate.types import (
    ChatResponse,
    Finish,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallStart,
    ToolResult,
    Usage,
)

from .helpers import parse, provider, split, text_of, tool_calls
from .test_encoders import REASONS, encode, segments, stream_events


def expected_reason(reason: str, called: bool) -> str:
    """What survives Gemini's vocabulary: STOP after calls means tool_calls, else stop."""
    if reason in ("stop", "tool_calls"):
        return "tool_calls" if called else "stop"
    return reason


@settings(max_examples=200, deadline=None)
@given(
    segments,
    st.sampled_from(REASONS),
    st.tuples(st.integers(0, 10**6), st.integers(0, 9999)),
    st.lists(st.integers(0, 50)),
    st.lists(st.integers(0, 5000), max_size=20),
)
def test_gemini_events_parse_back_to_the_same_answer(
    answer: list[Any],
    reason: str,
    usage: tuple[int, int],
    batches: list[int],
    cuts: list[int],
) -> None:
    events = stream_events(answer, reason, usage)
    data = encode(GeminiEncoder("id1", "gpt-x"), events, batches)
    back = parse(provider("gemini").stream_parser(), split(data, cuts))
    assert text_of(back) == text_of(events)
    assert list(tool_calls(back).values()) == list(tool_calls(events).values())
    called = any(isinstance(e, ToolCallStart) for e in events)
    finishes = [e.reason for e in back if isinstance(e, Finish)]
    assert finishes == [expected_reason(reason, called)]
    assert [(u.prompt, u.completion) for u in back if isinstance(u, Usage)][-1] == usage


def test_a_whole_answer_parses_back() -> None:
    answer = ChatResponse(
        [TextPart("hello"), ToolCall("c1", "get_weather", '{"city":"Oslo"}')], "tool_calls", 7, 3
    )
    body = orjson.loads(GeminiEncoder("id1", "m").response(answer))
    back = parse_generation(body)
    assert [type(p).__name__ for p in back.parts] == ["TextPart", "ToolCall"]
    assert back.parts[1].arguments == '{"city":"Oslo"}'  # type: ignore[union-attr]
    assert (back.finish_reason, back.prompt_tokens, back.completion_tokens) == (
        "tool_calls", 7, 3)  # fmt: skip


def test_decoding_a_conversation_with_function_calls() -> None:
    body = {
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "weather in Oslo and Lima?"}]},
            {"role": "model", "parts": [
                {"function_call": {"name": "weather", "args": {"city": "Oslo"}},
                 "thought_signature": "abc"},
                {"functionCall": {"name": "weather", "args": {"city": "Lima"}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "weather", "response": {"sky": "sunny"}}},
                {"function_response": {"name": "weather", "response": {"sky": "rain"}}}]},
        ],
        "tools": [{"function_declarations": [{"name": "weather", "parameters_json_schema": {
            "type": "object", "properties": {"city": {"type": "string"}}}}]}],
        "tool_config": {"function_calling_config": {"mode": "ANY",
                                                    "allowed_function_names": ["weather"]}},
        "generation_config": {"max_output_tokens": 20, "temperature": 0.5, "top_k": 3,
                              "stop_sequences": ["END"]},
    }  # fmt: skip
    chat = decode_generate(body, "openai")
    assert chat.system == "be brief" and chat.max_tokens == 20 and chat.top_k == 3
    assert chat.stop == ["END"] and chat.temperature == 0.5
    calls = chat.messages[1].parts
    results = chat.messages[2].parts
    assert [c.id for c in calls] == ["call_0", "call_1"]  # type: ignore[union-attr]
    assert [r.call_id for r in results] == ["call_0", "call_1"]  # type: ignore[union-attr]
    assert isinstance(results[1], ToolResult) and "rain" in results[1].content[0].text  # type: ignore[union-attr]
    assert chat.tools[0].parameters["properties"]["city"] == {"type": "string"}
    assert (chat.tool_choice.mode, chat.tool_choice.name) == ("tool", "weather")  # type: ignore[union-attr]


def test_structured_output_and_gemini_schemas() -> None:
    schema = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER", "nullable": True}},
              "propertyOrdering": ["n"]}  # fmt: skip
    assert json_schema(schema) == {"type": "object", "properties": {"n": {"type": ["integer",
                                                                             "null"]}}}  # fmt: skip
    user = [{"role": "user", "parts": [{"text": "hi"}]}]
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    chat = decode_generate({"contents": user, "generationConfig": config}, "openai")
    assert chat.response_format is not None and chat.response_format.type == "json_schema"
    assert chat.response_format.schema == json_schema(schema)
    plain = decode_generate(
        {"contents": user, "generationConfig": {"responseMimeType": "application/json"}}, "openai"
    )
    assert plain.response_format is not None and plain.response_format.type == "json_object"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"cachedContent": "cachedContents/1"}, "cachedContent"),
        ({"generationConfig": {"candidateCount": 2}}, "generationConfig.candidateCount"),
        ({"tools": [{"googleSearch": {}}]}, "tools[0].googleSearch"),
        ({"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": "gs://x"}}]}]},
         "contents[0].parts[0]"),
        ({"contents": [{"role": "user", "parts": [
            {"functionResponse": {"name": "nope", "response": {}}}]}]}, "contents[0].parts[0]"),
        ({"contents": []}, "contents"),
    ],
)  # fmt: skip
def test_what_cannot_be_translated_is_refused_by_name(body: dict[str, Any], param: str) -> None:
    full = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **body}
    with pytest.raises(BadRequest) as caught:
        decode_generate(full, "anthropic")
    assert caught.value.param == param


def test_text_deltas_stream_one_event_each() -> None:
    encoder = GeminiEncoder("id1", "m")
    data = encoder.events([TextDelta("a"), TextDelta("b")])
    assert data.count(b"data: ") == 2 and b"finishReason" not in data
