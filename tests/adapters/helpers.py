"""Shared pieces: a provider to hand the parsers, decoding with chunking, event summaries."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.config import ProviderConfig
from gateway.providers import build_provider
from gateway.providers.base import Provider
from gateway.providers.metering import StreamParser
from gateway.streaming.sse import SSEDecoder
from gateway.translate.types import (
    Finish,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


def provider(kind: str, secret: str = "sk-secret") -> Provider:
    base = {
        "openai": "https://api.openai.com/v1",
        "anthropic": "https://api.anthropic.com",
        "gemini": "https://generativelanguage.googleapis.com",
    }[kind]
    return build_provider(
        ProviderConfig(name=f"test-{kind}", kind=kind, base_url=base, api_key=secret)
    )


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def parse(parser: StreamParser, chunks: list[bytes]) -> list[StreamEvent]:
    """What a parser makes of a stream read in `chunks`, up to and including EOF."""
    decoder = SSEDecoder()
    events: list[StreamEvent] = []
    for chunk in chunks:
        for sse in decoder.feed(chunk):
            events.extend(parser.feed(sse))
    for sse in decoder.close():
        events.extend(parser.feed(sse))
    events.extend(parser.close())
    return events


def summary(event: StreamEvent) -> tuple[Any, ...]:
    """A comparable form (errors compare by what the client would see)."""
    if isinstance(event, StreamError):
        err = event.error
        return ("error", err.status, err.type, err.message)
    if isinstance(event, ToolCallStart):
        return ("tool", event.index, event.id, event.name)
    if isinstance(event, ToolCallDelta):
        return ("args", event.index, event.arguments)
    if isinstance(event, TextDelta):
        return ("text", event.text)
    if isinstance(event, ReasoningDelta):
        return ("thinking", event.text)
    if isinstance(event, Usage):
        return ("usage", event.prompt, event.completion)
    if isinstance(event, Finish):
        return ("finish", event.reason)
    assert isinstance(event, StreamEnd)
    return ("end",)


def tool_calls(events: list[StreamEvent]) -> dict[int, tuple[str, Any]]:
    """Each tool call's name and its arguments parsed once all fragments are in."""
    names: dict[int, str] = {}
    fragments: dict[int, list[str]] = {}
    for event in events:
        if isinstance(event, ToolCallStart):
            names[event.index] = event.name
            fragments.setdefault(event.index, [])
        elif isinstance(event, ToolCallDelta):
            fragments[event.index].append(event.arguments)
    return {i: (names[i], orjson.loads("".join(fragments[i]) or "{}")) for i in names}


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))
