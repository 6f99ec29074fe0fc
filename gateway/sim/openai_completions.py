"""`POST /v1/completions`: text_completion objects, streamed or whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from gateway.sim import openai_common as oc
from gateway.sim.call import Call, build_call
from gateway.sim.directive import plan_for
from gateway.sim.exchange import Exchange
from gateway.sim.generation import BadRequest
from gateway.sim.prompts import completion_prompt
from gateway.sim.state import SimState
from gateway.sim.words import text_of, token_json

CHUNK_HEAD = (
    b'data: {"id":"%s","object":"text_completion","created":%d,"model":%s,"choices":[{"text":'
)


class CompletionsDialect:
    """The legacy OpenAI Completions API."""

    api = "openai"
    api_key = staticmethod(oc.bearer_key)

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        if "prompt" not in body:
            raise BadRequest("'prompt' is required")
        prompt = completion_prompt(body.get("prompt"))
        if prompt is None:
            raise BadRequest("'prompt' must be a string, strings, or token arrays")
        text, words = prompt
        plan = plan_for(state.base_plan, text)
        stream = body.get("stream") is True
        model = oc.model_of(body)
        call = build_call(state, call_id, model, stream, words, plan, body.get("max_tokens"))
        call.include_usage = oc.wants_usage(state, body, plan)
        return call

    def answer(self, state: SimState, call: Call) -> CompletionAnswer:
        return CompletionAnswer(call)


class CompletionAnswer:
    """A text completion, streamed token by token or whole."""

    ping = None

    def __init__(self, call: Call) -> None:
        self.call = call
        self.units = call.tokens
        self._id = f"cmpl-sim{call.id}"
        self._head = CHUNK_HEAD % (self._id.encode(), call.created, orjson.dumps(call.model))

    def opening(self) -> list[bytes]:
        return []

    def steps(self) -> Iterator[bytes]:
        tail = b',"index":0,"logprobs":null,"finish_reason":null}]}\n\n'
        for i in range(self.call.tokens):
            yield self._head + token_json(i) + tail

    def closing(self, sent: int) -> list[bytes]:
        reason = orjson.dumps(oc.FINISH[self.call.finish])
        finish = b'"","index":0,"logprobs":null,"finish_reason":' + reason + b"}]}\n\n"
        events = [self._head + finish]
        if self.call.include_usage:
            chunk = self._object([])
            chunk["usage"] = oc.usage(self.call, sent)
            events.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
        events.append(oc.DONE)
        return events

    def error_event(self) -> bytes:
        return oc.MID_STREAM_EVENT

    def whole(self) -> bytes:
        choice = {
            "text": text_of(self.call.tokens),
            "index": 0,
            "logprobs": None,
            "finish_reason": oc.FINISH[self.call.finish],
        }
        response = self._object([choice])
        response["usage"] = oc.usage(self.call, self.units)
        return orjson.dumps(response)

    def _object(self, choices: list[Any]) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "text_completion",
            "created": self.call.created,
            "model": self.call.model,
            "choices": choices,
        }
