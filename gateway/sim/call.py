"""A generation request reduced to what every API shape needs to answer it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from gateway.sim.directive import Plan
from gateway.sim.state import SimState
from gateway.sim.tools import ToolCall, ToolSpec, make_calls
from gateway.sim.words import text_of, token, token_json


@dataclass(slots=True)
class Call:
    """What to generate: model, prompt size, plan, output length or tool calls."""

    id: int
    model: str
    stream: bool
    prompt_tokens: int
    plan: Plan
    tokens: int
    finish: str
    tools: list[ToolCall] = field(default_factory=list)
    include_usage: bool = True
    payload: Any = None
    created: int = field(default_factory=lambda: int(time.time()))
    pieces: tuple[str, ...] = ()  # a structured (JSON) answer's text; else generated words

    def token_text(self, index: int) -> str:
        """The text of output token `index`."""
        return self.pieces[index] if self.pieces else token(index)

    def token_json(self, index: int) -> bytes:
        """Output token `index` as a JSON string literal."""
        return orjson.dumps(self.pieces[index]) if self.pieces else token_json(index)

    def text(self) -> str:
        """The whole output text (of `tokens` tokens)."""
        return "".join(self.pieces[: self.tokens]) if self.pieces else text_of(self.tokens)

    @property
    def input_tokens(self) -> int:
        """All prompt tokens: the words, plus what the plan says came from a prompt cache."""
        return self.prompt_tokens + self.plan.cached + self.plan.cache_write


class Answer(Protocol):
    """One API's rendering of a call, streamed or whole."""

    @property
    def units(self) -> int:
        """Tokens (or tool-call fragments) in the whole answer."""
        ...

    @property
    def ping(self) -> bytes | None:
        """The keep-alive event of this API, if it has one."""
        ...

    def opening(self) -> list[bytes]:
        """Events sent right after the headers, before the first token."""
        ...

    def steps(self) -> Iterator[bytes]:
        """One message per generated token (or tool-call fragment)."""
        ...

    def closing(self, sent: int) -> list[bytes]:
        """Events that end a stream after `sent` tokens."""
        ...

    def error_event(self) -> bytes:
        """The event reporting a failure after the stream began."""
        ...

    def whole(self) -> bytes:
        """The complete non-streaming response body."""
        ...


class JsonAnswer:
    """An answer that is one JSON body, never streamed (embeddings, token counts)."""

    units = 0
    ping = None

    def __init__(self, body: bytes) -> None:
        self.body = body

    def opening(self) -> list[bytes]:
        return []

    def steps(self) -> Iterator[bytes]:
        return iter(())

    def closing(self, sent: int) -> list[bytes]:
        return []

    def error_event(self) -> bytes:
        return b""

    def whole(self) -> bytes:
        return self.body


def build_call(
    state: SimState,
    call_id: int,
    model: str,
    stream: bool,
    prompt_tokens: int,
    plan: Plan,
    max_tokens: object,
    tool: tuple[ToolSpec, int] | None = None,
    id_prefix: str = "call",
    pieces: tuple[str, ...] = (),
) -> Call:
    """A Call capped by `max_tokens`, with tool calls if `tool` was chosen, else the
    structured answer `pieces` if given, else `plan.tokens` generated words."""
    tokens, finish = (len(pieces) if pieces else plan.tokens), "stop"
    if isinstance(max_tokens, int) and 0 <= max_tokens < tokens:
        tokens, finish = max_tokens, "length"
    call = Call(call_id, model, stream, prompt_tokens, plan, tokens, finish, pieces=pieces)
    if tool is not None:
        spec, count = tool
        call.tools = make_calls(spec, count, state.split_rng, f"{id_prefix}_sim{call_id}")
        call.finish = "tool"
    return call
