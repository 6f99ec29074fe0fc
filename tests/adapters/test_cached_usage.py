"""Cached input reaches the meter from every usage source: OpenAI `prompt_tokens_details`,
Anthropic cache reads and writes, Gemini `cachedContentTokenCount`; streamed and whole, native
and translated; and the translated answers tell the client about it in its own shape."""

from __future__ import annotations

import orjson

from gateway.providers.metering import record
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEDecoder
from gateway.translate.anthropic_response import AnthropicEncoder
from gateway.translate.openai_response import OpenAIEncoder
from gateway.translate.types import ChatResponse, StreamEnd, TextPart, Usage

from . import recordings
from .helpers import parse, provider

OPENAI_USAGE = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":'
    b'1200,"completion_tokens":7,"total_tokens":1207,"prompt_tokens_details":{"cached_tokens":'
    b'1024,"audio_tokens":0}}}\n\ndata: [DONE]\n\n'
)
GEMINI_CACHED = (
    b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},'
    b'"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":900,'
    b'"cachedContentTokenCount":600,"candidatesTokenCount":3,"totalTokenCount":903}}\n\n'
)


def usages(kind: str, data: bytes) -> list[Usage]:
    return [e for e in parse(provider(kind).stream_parser(), [data]) if isinstance(e, Usage)]


def tracked(kind: str, route: str, data: bytes) -> Meter:
    meter = Meter()
    tracker = provider(kind).stream_tracker(route, meter, strip_usage=True)  # type: ignore[arg-type]
    for event in SSEDecoder().feed(data):
        tracker.observe(event)
    return meter


def test_openai_stream_usage_has_the_cached_tokens() -> None:
    (usage,) = usages("openai", OPENAI_USAGE)
    assert (usage.prompt, usage.completion, usage.cache_read, usage.cache_write) == (
        1200,
        7,
        1024,
        None,
    )
    meter = tracked("openai", "chat", OPENAI_USAGE)  # the native hot path
    assert (meter.prompt_tokens, meter.completion_tokens, meter.cache_read_tokens) == (
        1200,
        7,
        1024,
    )
    assert meter.cache_write_tokens is None


def test_openai_stream_usage_without_details_has_no_cached_tokens() -> None:
    meter = tracked("openai", "chat", recordings.OPENAI_TOOLS)
    assert (meter.prompt_tokens, meter.cache_read_tokens) == (31, None)


def test_openai_whole_answers_have_the_cached_tokens() -> None:
    body = {
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 50,
            "completion_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 32},
        },
    }
    openai = provider("openai")
    meter = Meter()
    openai.read_response("chat", body, meter)
    assert (meter.prompt_tokens, meter.cache_read_tokens) == (50, 32)
    answer = openai.parse_response(body)
    assert (answer.prompt_tokens, answer.cache_read_tokens) == (50, 32)


def test_anthropic_cache_reads_and_writes_from_message_start() -> None:
    events = usages("anthropic", recordings.ANTHROPIC)
    # input 472 + creation 20 + reads 8: the prompt stays the total input
    assert [(u.prompt, u.completion, u.cache_read, u.cache_write) for u in events] == [
        (500, None, 8, 20),
        (500, 89, 8, 20),
    ]
    meter = tracked("anthropic", "messages", recordings.ANTHROPIC)  # native relay
    assert (meter.prompt_tokens, meter.cache_read_tokens, meter.cache_write_tokens) == (500, 8, 20)
    whole = provider("anthropic").parse_response(
        {
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 300,
                "cache_read_input_tokens": 700,
                "output_tokens": 4,
            },
        }
    )
    assert (whole.prompt_tokens, whole.cache_read_tokens, whole.cache_write_tokens) == (
        1010,
        700,
        300,
    )


def test_gemini_cached_content_tokens() -> None:
    (usage,) = usages("gemini", GEMINI_CACHED)
    assert (usage.prompt, usage.completion, usage.cache_read, usage.cache_write) == (
        900,
        3,
        600,
        None,
    )
    answer = provider("gemini").parse_response(orjson.loads(GEMINI_CACHED[6:]))
    assert (answer.prompt_tokens, answer.cache_read_tokens) == (900, 600)


def test_the_meter_keeps_cached_tokens_from_events() -> None:
    meter = Meter()
    record(meter, Usage(40, None, 30, 5))
    record(meter, Usage(40, 9))  # a later event that does not repeat them keeps them
    assert (meter.prompt_tokens, meter.completion_tokens) == (40, 9)
    assert (meter.cache_read_tokens, meter.cache_write_tokens) == (30, 5)


def test_translated_answers_report_cached_input_in_the_clients_shape() -> None:
    answer = ChatResponse([TextPart("hi")], "stop", 1000, 5, 600, 100)
    openai = orjson.loads(OpenAIEncoder("x", "m", include_usage=True).response(answer))
    assert openai["usage"]["prompt_tokens"] == 1000
    assert openai["usage"]["prompt_tokens_details"] == {"cached_tokens": 600}
    message = orjson.loads(AnthropicEncoder("x", "m").response(answer))
    assert message["usage"] == {
        "input_tokens": 300,  # Anthropic's input_tokens excludes the cache
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 600,
        "output_tokens": 5,
    }
    chunks = OpenAIEncoder("x", "m", include_usage=True).events(
        [Usage(1000, 5, 600, None), StreamEnd()]
    )
    usage_chunk = orjson.loads(chunks.split(b"\n\n")[-3][6:])
    assert usage_chunk["usage"]["prompt_tokens_details"] == {"cached_tokens": 600}
    stream = AnthropicEncoder("x", "m").events([Usage(1000, None, 600, 100), StreamEnd()])
    start = orjson.loads(stream.split(b"\n\n")[0].split(b"data: ")[1])
    assert start["message"]["usage"]["input_tokens"] == 300
    assert start["message"]["usage"]["cache_read_input_tokens"] == 600
