"""The journal has a call's outcome before the client has the call's last byte: before the
whole response, before the chunk that ends a stream, before an error (raw ASGI against the
simulator, with a journal that records when it is told)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gateway.api.anthropic import MessagesEndpoint
from gateway.api.openai import OpenAIEndpoint
from gateway.calls import Call
from gateway.config import build_settings
from gateway.ledger import NullLedger
from gateway.state import GatewayState
from tests.servers import ServerProcess, gateway_config


class OrderedLedger(NullLedger):
    """No ledger; its journal writes each begin and end into the shared event list."""

    def __init__(self, events: list[tuple[Any, ...]]) -> None:
        self.journal = self
        self.events = events

    def begin(self, call: Call) -> None:
        self.events.append(("begin", call.id))

    def end(self, call: Call) -> None:
        self.events.append(("end", call.status))


@pytest.fixture
async def state(sim: ServerProcess) -> AsyncIterator[tuple[GatewayState, list[tuple[Any, ...]]]]:
    events: list[tuple[Any, ...]] = []
    running = GatewayState(build_settings(gateway_config(sim.url), {}), OrderedLedger(events))
    yield running, events
    await running.pool.close()


async def call(app: Any, path: str, body: dict[str, Any], events: list[tuple[Any, ...]]) -> None:
    scope = {
        "type": "http", "method": "POST", "path": path, "query_string": b"",
        "headers": [(b"authorization", b"Bearer key-chat"), (b"content-type", b"application/json")],
    }
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": orjson.dumps(body)}
        await asyncio.Event().wait()  # the client stays
        return {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            events.append(("start", message["status"]))
        else:
            events.append(("body", message.get("body", b""), message.get("more_body", False)))

    await app(scope, receive, send)


def first(events: list[tuple[Any, ...]], predicate: Any) -> int:
    return next(i for i, event in enumerate(events) if predicate(event))


def chat(stream: bool) -> dict[str, Any]:
    messages = [{"role": "user", "content": "hi [sim tokens=5 ttft_ms=0]"}]
    return {"model": "gpt-test", "stream": stream, "messages": messages}


async def test_a_whole_answer_is_journaled_before_it_is_sent(state) -> None:  # type: ignore[no-untyped-def]
    running, events = state
    await call(OpenAIEndpoint(running, "chat"), "/v1/chat/completions", chat(False), events)
    assert [e[0] for e in events][:4] == ["begin", "end", "start", "body"]
    assert events[1] == ("end", "completed") and events[2] == ("start", 200)


async def test_an_openai_stream_is_journaled_before_its_done_event(state) -> None:  # type: ignore[no-untyped-def]
    running, events = state
    await call(OpenAIEndpoint(running, "chat"), "/v1/chat/completions", chat(True), events)
    done = first(events, lambda e: e[0] == "body" and b"[DONE]" in e[1])
    end = first(events, lambda e: e[0] == "end")
    assert events[0][0] == "begin" and end < done
    assert events[end] == ("end", "completed")
    assert first(events, lambda e: e[0] == "body" and b"content" in e[1]) < end  # not too soon


async def test_an_anthropic_stream_is_journaled_before_message_stop(state) -> None:  # type: ignore[no-untyped-def]
    running, events = state
    body = {"model": "claude-test", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "hi [sim tokens=5 ttft_ms=0]"}]}
    await call(MessagesEndpoint(running), "/v1/messages", body, events)
    stop = first(events, lambda e: e[0] == "body" and b"message_stop" in e[1])
    assert first(events, lambda e: e[0] == "end") < stop


async def test_an_error_is_journaled_before_the_client_sees_it(state) -> None:  # type: ignore[no-untyped-def]
    running, events = state
    broken = {**chat(False), "model": "dead-model"}  # the upstream refuses connections
    await call(OpenAIEndpoint(running, "chat"), "/v1/chat/completions", broken, events)
    assert [e[0] for e in events][:3] == ["begin", "end", "start"]
    assert events[1] == ("end", "failed") and events[2][1] >= 500
