"""The SSE decoder: any split of the bytes gives the same events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.streaming.sse import SSEDecoder

OPENAI = (
    'data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    'data: {"id":"c1","choices":[{"index":0,"delta":'
    '{"content":"h\u00e9llo \u2603 \U0001f600"}}]}\n\n'
    ": keep-alive comment\n\n"
    'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    "data: [DONE]\n\n"
).encode()

ANTHROPIC_CRLF = (
    "event: message_start\r\n"
    'data: {"type":"message_start","message":{"usage":{"input_tokens":9}}}\r\n\r\n'
    "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"
    "event: content_block_delta\r\n"
    'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"\u00fcber"}}\r\n\r\n'
    "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n"
).encode()

CR_ONLY = b"event: a\rdata: one\rdata: two\r\r: comment\r\rdata:three\r\r"


def decode(chunks: list[bytes]) -> list[tuple[str | None, str | None, bytes]]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return [(e.event, e.data, e.raw) for e in events]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def test_openai_events_and_raw_bytes() -> None:
    events = decode([OPENAI])
    assert [e[1] for e in events][-1] == "[DONE]"
    assert events[2] == (None, None, b": keep-alive comment\n\n")
    assert b"".join(e[2] for e in events) == OPENAI
    assert "\u2603" in events[1][1]


def test_crlf_and_event_names() -> None:
    events = decode([ANTHROPIC_CRLF])
    assert [e[0] for e in events] == ["message_start", "ping", "content_block_delta",
                                      "message_stop"]
    assert b"".join(e[2] for e in events) == ANTHROPIC_CRLF


def test_cr_only_multiline_data() -> None:
    events = decode([CR_ONLY])
    assert [(e[0], e[1]) for e in events] == [("a", "one\ntwo"), (None, None), (None, "three")]


def test_cr_at_end_of_read_waits_for_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r\n\r") == []
    events = decoder.feed(b"\ndata: y\r\n\r\n")
    assert [e.data for e in events] == ["x", "y"]
    assert events[0].raw == b"data: x\r\n\r\n"


def test_last_event_without_blank_line_is_delivered_at_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":1}\n') == []
    assert [e.data for e in decoder.close()] == ['{"a":1}']


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([OPENAI, ANTHROPIC_CRLF, CR_ONLY]), st.lists(st.integers(0, 10_000)))
def test_any_chunking_gives_the_same_events(stream: bytes, cuts: list[int]) -> None:
    assert decode(split(stream, cuts)) == decode([stream])


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([OPENAI, ANTHROPIC_CRLF]))
def test_byte_by_byte(stream: bytes) -> None:
    assert decode([stream[i : i + 1] for i in range(len(stream))]) == decode([stream])
