"""`POST /v1/chat/completions`: chat.completion objects and chat.completion.chunk streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from gateway.sim import openai_common as oc
from gateway.sim.call import Call, build_call
from gateway.sim.directive import plan_for
from gateway.sim.exchange import Exchange
from gateway.sim.generation import BadRequest
from gateway.sim.prompts import answers_tool, chat_prompt
from gateway.sim.state import SimState
from gateway.sim.structured import openai_schema, pieces
from gateway.sim.tools import choose_tool

CHUNK_HEAD = (
    b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,'
    b'"choices":[{"index":0,"delta":'
)
CHUNK_END = b',"finish_reason":null}]}\n\n'


class ChatDialect:
    """The OpenAI Chat Completions API."""

    api = "openai"
    api_key = staticmethod(oc.bearer_key)

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise BadRequest("'messages' must be a list")
        text, words = chat_prompt(messages)
        plan = plan_for(state.base_plan, text)
        tool = None
        if not answers_tool(messages):
            named, forced = oc.tool_choice(body.get("tool_choice"))
            tool = choose_tool(oc.tool_specs(body.get("tools")), named, forced, plan.tool_calls)
        schema = openai_schema(body.get("response_format"))
        structured = pieces(schema, state.options.seed) if schema is not None else ()
        stream = body.get("stream") is True
        model = oc.model_of(body)
        max_tokens = oc.max_tokens_of(body)
        call = build_call(
            state, call_id, model, stream, words, plan, max_tokens, tool, pieces=structured
        )
        call.include_usage = oc.wants_usage(state, body, plan)
        return call

    def answer(self, state: SimState, call: Call) -> ChatAnswer:
        return ChatAnswer(call)


class ChatAnswer:
    """A chat completion, streamed chunk by chunk or whole."""

    ping = None

    def __init__(self, call: Call) -> None:
        self.call = call
        self.units = sum(len(t.fragments) for t in call.tools) if call.tools else call.tokens
        self._id = f"chatcmpl-sim{call.id}"
        self._head = CHUNK_HEAD % (self._id.encode(), call.created, orjson.dumps(call.model))

    def opening(self) -> list[bytes]:
        return []

    def steps(self) -> Iterator[bytes]:
        head = self._head
        if not self.call.tools:
            role = self._role()
            token_json = self.call.token_json
            for i in range(self.call.tokens):
                chunk = head + b'{"content":' + token_json(i) + b"}" + CHUNK_END
                yield role + chunk if i == 0 else chunk
            return
        role = self._role()
        for index, tool in enumerate(self.call.tools):
            for part, fragment in enumerate(tool.fragments):
                entry: dict[str, Any] = {"index": index, "function": {"arguments": fragment}}
                if part == 0:
                    entry["id"] = tool.id
                    entry["type"] = "function"
                    entry["function"] = {"name": tool.name, "arguments": fragment}
                chunk = head + orjson.dumps({"tool_calls": [entry]}) + CHUNK_END
                yield role + chunk if index == 0 and part == 0 else chunk

    def closing(self, sent: int) -> list[bytes]:
        reason = orjson.dumps(oc.FINISH[self.call.finish])
        events = [self._head + b'{},"finish_reason":' + reason + b"}]}\n\n"]
        if sent == 0:
            events.insert(0, self._role())
        if self.call.include_usage:
            events.append(b"data: " + orjson.dumps(self._usage_chunk(sent)) + b"\n\n")
        events.append(oc.DONE)
        return events

    def error_event(self) -> bytes:
        return oc.MID_STREAM_EVENT

    def whole(self) -> bytes:
        call = self.call
        message: dict[str, Any] = {"role": "assistant", "content": call.text()}
        if call.tools:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": t.id,
                    "type": "function",
                    "function": {"name": t.name, "arguments": t.arguments},
                }
                for t in call.tools
            ]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": oc.FINISH[call.finish],
        }
        return orjson.dumps(
            {
                "id": self._id,
                "object": "chat.completion",
                "created": call.created,
                "model": call.model,
                "choices": [choice],
                "usage": oc.usage(call, self.units),
            }
        )

    def _role(self) -> bytes:
        content = b"null" if self.call.tools else b'""'
        return self._head + b'{"role":"assistant","content":' + content + b"}" + CHUNK_END

    def _usage_chunk(self, sent: int) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self.call.created,
            "model": self.call.model,
            "choices": [],
            "usage": oc.usage(self.call, sent),
        }
