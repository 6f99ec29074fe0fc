"""`POST /v1/messages`: Anthropic message objects and their event streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from gateway.sim.call import Call, build_call
from gateway.sim.directive import plan_for
from gateway.sim.errors import INJECTED, error_payload
from gateway.sim.exchange import Exchange
from gateway.sim.generation import BadRequest
from gateway.sim.openai_common import bearer_key
from gateway.sim.prompts import answers_tool, anthropic_prompt
from gateway.sim.state import SimState
from gateway.sim.structured import anthropic_schema, pieces
from gateway.sim.tools import ToolSpec, choose_tool

STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}
PING = b'event: ping\ndata: {"type":"ping"}\n\n'
TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":'
)


def event(payload: dict[str, Any]) -> bytes:
    """One server-sent event named after its `type`."""
    return b"event: %s\ndata: %s\n\n" % (payload["type"].encode(), orjson.dumps(payload))


ERROR_EVENT = event(error_payload("anthropic", INJECTED["mid_stream"]))


def tool_specs(tools: Any) -> list[ToolSpec]:
    """Client tools declared with a name (and usually an `input_schema`)."""
    if not isinstance(tools, list):
        return []
    return [
        ToolSpec(t["name"], t.get("input_schema"))
        for t in tools
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    ]


def tool_choice(choice: Any) -> tuple[str | None, bool]:
    """The named tool and whether a tool call is required."""
    if not isinstance(choice, dict):
        return None, False
    if choice.get("type") == "tool" and isinstance(choice.get("name"), str):
        return choice["name"], True
    return None, choice.get("type") == "any"


class MessagesDialect:
    """The Anthropic Messages API."""

    api = "anthropic"

    def api_key(self, ex: Exchange) -> str | None:
        return ex.header(b"x-api-key") or bearer_key(ex)

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise BadRequest("messages: Field required")
        text, words = anthropic_prompt(body.get("system"), messages)
        plan = plan_for(state.base_plan, text)
        tool = None
        if not answers_tool(messages):
            named, forced = tool_choice(body.get("tool_choice"))
            tool = choose_tool(tool_specs(body.get("tools")), named, forced, plan.tool_calls)
        schema = anthropic_schema(body)
        structured = pieces(schema, state.options.seed) if schema is not None else ()
        model = body.get("model")
        model = model if isinstance(model, str) and model else "sim-claude"
        stream = body.get("stream") is True
        max_tokens = body.get("max_tokens")
        return build_call(
            state, call_id, model, stream, words, plan, max_tokens, tool, "toolu", structured
        )

    def answer(self, state: SimState, call: Call) -> MessageAnswer:
        return MessageAnswer(call)


class MessageAnswer:
    """An assistant message, streamed as events or whole."""

    ping = PING

    def __init__(self, call: Call) -> None:
        self.call = call
        self.units = sum(len(t.fragments) for t in call.tools) if call.tools else call.tokens

    def opening(self) -> list[bytes]:
        message = self._message([], None, 1)
        return [event({"type": "message_start", "message": message}), PING]

    def steps(self) -> Iterator[bytes]:
        if not self.call.tools:
            start = self._block_start(0, {"type": "text", "text": ""})
            token_json = self.call.token_json
            for i in range(self.call.tokens):
                delta = TEXT_DELTA + token_json(i) + b"}}\n\n"
                yield start + delta if i == 0 else delta
            return
        for index, tool in enumerate(self.call.tools):
            last = len(tool.fragments) - 1
            for part, fragment in enumerate(tool.fragments):
                chunk = self._json_delta(index, fragment)
                if part == 0:
                    block = {"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}}
                    chunk = self._block_start(index, block) + self._json_delta(index, "") + chunk
                if part == last:
                    chunk += event({"type": "content_block_stop", "index": index})
                yield chunk

    def closing(self, sent: int) -> list[bytes]:
        events = []
        if not self.call.tools:
            if sent == 0:
                events.append(self._block_start(0, {"type": "text", "text": ""}))
            events.append(event({"type": "content_block_stop", "index": 0}))
        delta = {"stop_reason": STOP_REASON[self.call.finish], "stop_sequence": None}
        usage = {"output_tokens": sent}
        events.append(event({"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(event({"type": "message_stop"}))
        return events

    def error_event(self) -> bytes:
        return ERROR_EVENT

    def whole(self) -> bytes:
        call = self.call
        content: list[dict[str, Any]]
        if call.tools:
            content = [
                {"type": "tool_use", "id": t.id, "name": t.name, "input": t.args}
                for t in call.tools
            ]
        else:
            content = [{"type": "text", "text": call.text()}]
        return orjson.dumps(self._message(content, STOP_REASON[call.finish], self.units))

    def _message(self, content: list[Any], stop_reason: str | None, output: int) -> dict[str, Any]:
        return {
            "id": f"msg_sim{self.call.id}",
            "type": "message",
            "role": "assistant",
            "model": self.call.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.call.prompt_tokens,
                "cache_creation_input_tokens": self.call.plan.cache_write,
                "cache_read_input_tokens": self.call.plan.cached,
                "output_tokens": output,
            },
        }

    @staticmethod
    def _block_start(index: int, block: dict[str, Any]) -> bytes:
        return event({"type": "content_block_start", "index": index, "content_block": block})

    @staticmethod
    def _json_delta(index: int, fragment: str) -> bytes:
        delta = {"type": "input_json_delta", "partial_json": fragment}
        return event({"type": "content_block_delta", "index": index, "delta": delta})
