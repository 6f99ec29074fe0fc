"""The client-side encoders against the provider-side parsers: whatever a translated stream
carries (text runs, tool calls with fragmented arguments, finish, usage, errors), encoding it
for a client and parsing that back gives the same answer, however the bytes are split."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import UpstreamStatus
from gateway.providers.anthropic_stream import parse_message
from gateway.providers.openai_chat import parse_completion
from gateway.translate.anthropic_response import AnthropicEncoder
from gateway.translate.openai_response import OpenAIEncoder
from gateway.translate.types import (
    ChatResponse,
    Finish,
    StreamEnd,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

from .helpers import parse, provider, split, summary

REASONS = ["stop", "length", "tool_calls", "content_filter"]
json_values = st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=8), st.booleans(), st.none())
tool_args = st.dictionaries(st.text(max_size=6), json_values, max_size=3)
segments = st.lists(
    st.one_of(
        st.tuples(
            st.just("text"), st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=3)
        ),
        st.tuples(
            st.just("tool"),
            st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
            tool_args,
            st.integers(1, 4),
        ),
    ),
    max_size=5,
)


def stream_events(answer: list[Any], reason: str, usage: tuple[int, int]) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    tools = 0
    for segment in answer:
        if segment[0] == "text":
            events.extend(TextDelta(piece) for piece in segment[1])
            continue
        _, name, args, pieces = segment
        text = orjson.dumps(args).decode()
        step = max(1, len(text) // pieces)
        events.append(ToolCallStart(tools, f"call_{tools}", name))
        events.extend(ToolCallDelta(tools, text[i : i + step]) for i in range(0, len(text), step))
        tools += 1
    return [*events, Finish(reason), Usage(*usage), StreamEnd()]  # type: ignore[arg-type]


def content(events: list[StreamEvent]) -> list[tuple[Any, ...]]:
    """Text runs merged, tool calls with their arguments joined, in order."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, TextDelta):
            if out and out[-1][0] == "text":
                out[-1] = ("text", out[-1][1] + event.text)
            else:
                out.append(("text", event.text))
        elif isinstance(event, ToolCallStart):
            out.append(("tool", event.index, event.id, event.name, ""))
        elif isinstance(event, ToolCallDelta):
            position = next(i for i, row in enumerate(out) if row[:2] == ("tool", event.index))
            row = out[position]
            out[position] = (*row[:4], row[4] + event.arguments)
    return out


def encode(encoder: Any, events: list[StreamEvent], batches: list[int]) -> bytes:
    """The encoder fed in batches, as upstream reads would deliver the events."""
    cuts = sorted({b % (len(events) + 1) for b in batches} | {0, len(events)})
    return b"".join(encoder.events(events[a:b]) for a, b in zip(cuts, cuts[1:], strict=False))


@settings(max_examples=200, deadline=None)
@given(
    segments,
    st.sampled_from(REASONS),
    st.tuples(st.integers(0, 10**6), st.integers(0, 9999)),
    st.lists(st.integers(0, 50)),
    st.lists(st.integers(0, 5000), max_size=20),
    st.booleans(),
)
def test_openai_chunks_parse_back_to_the_same_answer(
    answer: list[Any],
    reason: str,
    usage: tuple[int, int],
    batches: list[int],
    cuts: list[int],
    include_usage: bool,
) -> None:
    events = stream_events(answer, reason, usage)
    data = encode(OpenAIEncoder("id1", "claude-x", include_usage=include_usage), events, batches)
    back = parse(provider("openai").stream_parser(), split(data, cuts))
    assert content(back) == content(events)
    rows = [
        summary(e) for e in back if not isinstance(e, (TextDelta, ToolCallStart, ToolCallDelta))
    ]
    expected_usage = [("usage", *usage)] if include_usage else []
    assert rows == [("finish", reason), *expected_usage, ("end",)]


@settings(max_examples=200, deadline=None)
@given(
    segments,
    st.sampled_from(REASONS),
    st.tuples(st.integers(0, 10**6), st.integers(0, 9999)),
    st.lists(st.integers(0, 50)),
    st.lists(st.integers(0, 5000), max_size=20),
)
def test_anthropic_events_parse_back_to_the_same_answer(
    answer: list[Any],
    reason: str,
    usage: tuple[int, int],
    batches: list[int],
    cuts: list[int],
) -> None:
    events = stream_events(answer, reason, usage)
    data = encode(AnthropicEncoder("id1", "gpt-x"), events, batches)
    back = parse(provider("anthropic").stream_parser(), split(data, cuts))
    assert content(back) == content(events)
    assert [summary(e) for e in back if isinstance(e, Finish)] == [("finish", reason)]
    assert [summary(e) for e in back if isinstance(e, Usage)][-1] == ("usage", *usage)
    assert isinstance(back[-1], StreamEnd)


def test_anthropic_stream_opens_and_closes_one_block_at_a_time() -> None:
    events = [
        TextDelta("a"),
        ToolCallStart(0, "c0", "f"),
        ToolCallDelta(0, "{}"),
        TextDelta("b"),
        Finish("stop"),
        Usage(3, 4),
        StreamEnd(),
    ]
    data = AnthropicEncoder("x", "m").events(events).decode()
    kinds = [line[7:] for line in data.splitlines() if line.startswith("event: ")]
    assert kinds == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert '"input_tokens":3' in data and '"output_tokens":4' in data


def test_errors_keep_their_kind_in_both_client_shapes() -> None:
    overloaded = UpstreamStatus("Overloaded", status=503, type="overloaded_error")
    events = [TextDelta("Hi"), StreamError(overloaded)]
    openai_bytes = OpenAIEncoder("x", "m", include_usage=True).events(events)
    anthropic_bytes = AnthropicEncoder("x", "m").events(events)
    for kind, data in (("openai", openai_bytes), ("anthropic", anthropic_bytes)):
        back = parse(provider(kind).stream_parser(), [data])
        assert isinstance(back[-1], StreamError), kind
        assert (back[-1].error.type, back[-1].error.message) == ("overloaded_error", "Overloaded")
        assert not any(isinstance(e, (Finish, StreamEnd)) for e in back)
    assert b"event: error\n" in anthropic_bytes and b"[DONE]" not in openai_bytes


ANSWER = ChatResponse(
    [
        TextPart("Let me check."),
        ToolCall("call_1", "get_weather", '{"location":"Oslo"}'),
        ToolCall("call_2", "get_time", '{"tz":"CET"}'),
    ],
    "tool_calls",
    12,
    30,
)


def test_whole_answers_round_trip() -> None:
    openai_body = orjson.loads(OpenAIEncoder("x", "m", include_usage=False).response(ANSWER))
    assert openai_body["object"] == "chat.completion"
    assert parse_completion(openai_body) == ANSWER
    anthropic_body = orjson.loads(AnthropicEncoder("x", "m").response(ANSWER))
    assert anthropic_body["stop_reason"] == "tool_use"
    assert anthropic_body["content"][1]["input"] == {"location": "Oslo"}
    back = parse_message(anthropic_body)
    assert (back.finish_reason, back.prompt_tokens, back.completion_tokens) == (
        "tool_calls",
        12,
        30,
    )
    assert [orjson.loads(p.arguments) for p in back.parts if isinstance(p, ToolCall)] == [
        {"location": "Oslo"},
        {"tz": "CET"},
    ]
