"""`[sim echo_key=1]`: answer with the API key the request carried, as a careless upstream might.

The key goes into an error's message, `param` and `code` (Anthropic and Gemini errors carry a
message only), into a mid-stream error event, into a whole 200 body (an `echo` member) and into
batch results, so tests can check that the gateway lets none of it out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import orjson

from gateway.sim.call import Answer
from gateway.sim.errors import INJECTED, SimError, error_payload


def echoing(error: SimError, key: str | None) -> SimError:
    """`error` carrying `key` (unchanged without one)."""
    if key is None:
        return error
    return replace(error, message=f"{error.message} (key {key})", echo=key)


def echo_body(body: bytes, key: str | None) -> bytes:
    """A whole JSON response with an `echo` member holding `key`."""
    if key is None or not body.endswith(b"}"):
        return body
    return body[:-1] + b',"echo":' + orjson.dumps(key) + b"}"


class EchoAnswer:
    """An answer whose whole body and mid-stream error event carry the key."""

    def __init__(self, answer: Answer, api: str, key: str) -> None:
        self.answer = answer
        self.api = api
        self.key = key

    @property
    def units(self) -> int:
        return self.answer.units

    @property
    def ping(self) -> bytes | None:
        return self.answer.ping

    def opening(self) -> list[bytes]:
        return self.answer.opening()

    def steps(self) -> Iterator[bytes]:
        return self.answer.steps()

    def closing(self, sent: int) -> list[bytes]:
        return self.answer.closing(sent)

    def error_event(self) -> bytes:
        plain = INJECTED["mid_stream"]
        event = self.answer.error_event()
        return event.replace(
            orjson.dumps(error_payload(self.api, plain)),
            orjson.dumps(error_payload(self.api, echoing(plain, self.key))),
        )

    def whole(self) -> bytes:
        return echo_body(self.answer.whole(), self.key)
