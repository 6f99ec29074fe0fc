"""Each vendor's stream parser, fed through the one SSE decoder: any split of the recorded
bytes gives the same neutral events; pings, comments and unknown events are ignored; tool
arguments arrive per index in each vendor's partial shape; errors after 200 stay errors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEDecoder
from gateway.translate.types import Finish, StreamEnd, StreamError

from . import recordings
from .helpers import parse, provider, split, summary, text_of, tool_calls

STREAMS = {
    "anthropic": recordings.ANTHROPIC,
    "gemini": recordings.GEMINI,
    "openai": recordings.OPENAI_TOOLS,
    "anthropic-error": recordings.ANTHROPIC_ERROR,
    "gemini-error": recordings.GEMINI_ERROR,
    "openai-error": recordings.OPENAI_ERROR,
}


def events_of(name: str, chunks: list[bytes]) -> list:
    return parse(provider(name.split("-")[0]).stream_parser(), chunks)


def comparable(name: str, events: list) -> list:
    rows = [summary(e) for e in events]
    if name.startswith("gemini"):  # Gemini calls carry no id: the gateway makes one up
        rows = [("tool", r[1], "<id>", r[3]) if r[0] == "tool" else r for r in rows]
    return rows


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(STREAMS)), st.lists(st.integers(0, 10_000), max_size=40))
def test_any_chunking_gives_the_same_events(name: str, cuts: list[int]) -> None:
    data = STREAMS[name]
    assert comparable(name, events_of(name, split(data, cuts))) == comparable(
        name, events_of(name, [data])
    )


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(sorted(STREAMS)))
def test_byte_by_byte(name: str) -> None:
    data = STREAMS[name]
    one_byte = [data[i : i + 1] for i in range(len(data))]
    assert comparable(name, events_of(name, one_byte)) == comparable(name, events_of(name, [data]))


def test_anthropic_events() -> None:
    events = events_of("anthropic", [recordings.ANTHROPIC])
    assert [summary(e) for e in events] == [
        ("usage", 500, None),  # input + cache creation + cache reads, at message_start
        ("thinking", "Let me think\u2026"),
        ("text", "H\u00e9llo \u2603 "),
        ("text", "w\U0001f600rld"),
        ("tool", 0, "toolu_1", "get_weather"),
        ("args", 0, '{"location": "San Fra'),  # the leading "" fragment is skipped
        ("args", 0, 'ncisco"}'),
        ("tool", 1, "toolu_2", "get_time"),
        ("args", 1, '{"tz":"CET"}'),
        ("finish", "tool_calls"),
        ("usage", 500, 89),  # the final count, only at message_stop
        ("end",),
    ]


def test_gemini_events() -> None:
    events = events_of("gemini", [recordings.GEMINI])
    assert text_of(events) == "Gr\u00fc\u00df dich \u65e5\u672c"
    assert ("thinking", "Thinking about it") in [summary(e) for e in events]
    assert tool_calls(events) == {
        0: ("get_weather", {"location": "Paris", "days": 3}),  # whole args, one fragment
        1: ("get_time", {"tz": "CET"}),
    }
    ids = [e.id for e in events if type(e).__name__ == "ToolCallStart"]
    assert len(set(ids)) == 2
    # STOP after function calls is a tool_calls finish; EOF after it ends the stream.
    assert [summary(e) for e in events][-3:] == [
        ("args", 1, '{"tz":"CET"}'),
        ("finish", "tool_calls"),
        ("end",),
    ]
    usages = [summary(e) for e in events if summary(e)[0] == "usage"]
    assert usages[-1] == ("usage", 9, 52)  # candidates + thoughts


def test_openai_tool_call_fragments_per_index() -> None:
    events = events_of("openai", [recordings.OPENAI_TOOLS])
    assert tool_calls(events) == {
        0: ("get_weather", {"location": "Z\u00fcrich"}),
        1: ("get_time", {"tz": "CET"}),
    }
    assert [summary(e) for e in events][-3:] == [
        ("finish", "tool_calls"),
        ("usage", 31, 17),
        ("end",),
    ]


def test_gemini_stream_cut_before_a_finish_never_ends() -> None:
    cut = recordings.GEMINI.split(b"\r\n\r\n")[1] + b"\r\n\r\n"
    events = events_of("gemini", [cut])
    assert not any(isinstance(e, (Finish, StreamEnd)) for e in events)


def test_errors_after_200_are_errors_not_a_stop() -> None:
    for name, status, kind in (
        ("anthropic-error", 503, "overloaded_error"),
        ("gemini-error", 503, "overloaded_error"),
        ("openai-error", 502, "server_error"),
    ):
        events = events_of(name, [STREAMS[name]])
        assert isinstance(events[-1], StreamError), name
        assert not any(isinstance(e, (Finish, StreamEnd)) for e in events), name
        assert (events[-1].error.status, events[-1].error.type) == (status, kind)
        assert text_of(events) == "Hi"


def test_error_messages_are_scrubbed_of_the_provider_key() -> None:
    leaky = b'data: {"error":{"message":"bad key sk-secret","type":"server_error"}}\n\n'
    (event,) = parse(provider("openai").stream_parser(), [leaky])
    assert "sk-secret" not in event.error.message


def test_native_anthropic_tracker_keeps_the_meter() -> None:
    """A cut stream has the exact input and no completion usage; the end brings the final."""
    anthropic = provider("anthropic")
    meter = Meter()
    tracker = anthropic.stream_tracker("messages", meter, strip_usage=False)
    data = recordings.ANTHROPIC
    cut = data.index(b"event: message_stop")
    decoder = SSEDecoder()
    assert all(tracker.observe(e) for e in decoder.feed(data[:cut]))
    assert (meter.prompt_tokens, meter.completion_tokens) == (500, None)
    assert meter.finish_reason == "tool_calls" and not meter.done
    assert meter.delivered == [
        "Let me think\u2026",
        "H\u00e9llo \u2603 ",
        "w\U0001f600rld",
        "get_weather",
        '{"location": "San Fra',
        'ncisco"}',
        "get_time",
        '{"tz":"CET"}',
    ]
    for event in decoder.feed(data[cut:]):
        tracker.observe(event)
    assert (meter.prompt_tokens, meter.completion_tokens, meter.done) == (500, 89, True)


def test_gemini_meter_has_the_last_usage_seen() -> None:
    gemini = provider("gemini")
    meter = Meter()
    tracker = gemini.stream_tracker("chat", meter, strip_usage=False)
    first_two = b"\r\n\r\n".join(recordings.GEMINI.split(b"\r\n\r\n")[:2]) + b"\r\n\r\n"
    for event in SSEDecoder().feed(first_two):
        tracker.observe(event)
    assert (meter.prompt_tokens, meter.completion_tokens) == (9, 42)
    assert meter.delivered == ["Thinking about it", "Gr\u00fc\u00df "]
