"""`POST /v1/responses`: Response objects and the Responses API's semantic event stream.

Same knobs and directives as chat. A `text.format` json_schema (or json_object) answer is JSON
that matches the schema; once the input carries a `function_call_output` after the last user
message, the tool loop ends with a text answer instead of another call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson

from gateway.content import texts
from gateway.sim import openai_common as oc
from gateway.sim.call import Call, build_call
from gateway.sim.directive import plan_for
from gateway.sim.errors import INJECTED
from gateway.sim.exchange import Exchange
from gateway.sim.generation import BadRequest
from gateway.sim.prompts import count_words
from gateway.sim.schema_json import instance
from gateway.sim.state import SimState
from gateway.sim.tools import choose_tool
from gateway.sim.words import text_of, token

JSON_PIECE = 8  # characters of structured output per streamed delta
_ECHOED = ("instructions", "tools", "tool_choice", "metadata", "temperature", "top_p",
           "max_output_tokens", "previous_response_id", "reasoning", "text", "user")


def read_input(body: dict[str, Any]) -> tuple[str, int, bool]:
    """Last user text, word count (instructions included) and whether a tool result came last."""
    items = body.get("input")
    words = count_words(body.get("instructions"))
    if isinstance(items, str):
        return items, words + len(items.split()), False
    if not isinstance(items, list):
        raise BadRequest("'input' must be a string or a list of items")
    last_user, answered = "", False
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            words += count_words(item.get("content"))
            if item.get("role") == "user":
                last_user, answered = "\n".join(texts(item.get("content"))), False
        elif kind == "function_call_output":
            words += count_words(item.get("output"))
            answered = True
    return last_user, words, answered


def json_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema a `text.format` asks the answer to match (json_object: any object)."""
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    if fmt.get("type") == "json_object":
        return {"type": "object", "properties": {"answer": {"type": "string"}}}
    return None


class ResponsesDialect:
    """The OpenAI Responses API."""

    api = "openai"
    api_key = staticmethod(oc.bearer_key)

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        text, words, answered = read_input(body)
        plan = plan_for(state.base_plan, text)
        named, forced = oc.tool_choice(body.get("tool_choice"))
        specs = [] if answered else oc.tool_specs(body.get("tools"))
        tool = choose_tool(specs, named, forced, plan.tool_calls)
        schema = json_format(body)
        pieces: list[str] = []
        if schema is not None and tool is None:
            encoded = orjson.dumps(instance(schema)).decode()
            pieces = [encoded[i : i + JSON_PIECE] for i in range(0, len(encoded), JSON_PIECE)]
            plan = replace(plan, tokens=len(pieces))
        stream = body.get("stream") is True
        max_tokens = body.get("max_output_tokens")
        call = build_call(state, call_id, oc.model_of(body), stream, words, plan, max_tokens, tool)
        echo = {key: body.get(key) for key in _ECHOED}
        call.payload = {"echo": echo, "pieces": pieces[: call.tokens], "store": body.get("store")}
        return call

    def answer(self, state: SimState, call: Call) -> ResponseAnswer:
        return ResponseAnswer(call)


class ResponseAnswer:
    """A Response, streamed as semantic events or whole."""

    ping = None

    def __init__(self, call: Call) -> None:
        self.call = call
        self.units = sum(len(t.fragments) for t in call.tools) if call.tools else call.tokens
        self.id = f"resp_sim{call.id}"
        self.message_id = f"msg_sim{call.id}"
        self.seq = 0
        self._unsent: int | None = None
        self.pieces: list[str] = call.payload["pieces"]

    # --- stream ------------------------------------------------------------------------

    def opening(self) -> list[bytes]:
        return [
            self._event("response.created", response=self._response("in_progress", [], None)),
            self._event("response.in_progress", response=self._response("in_progress", [], None)),
        ]

    def steps(self) -> Iterator[bytes]:
        chunks = self._chunks()
        while True:
            self._unsent = self.seq  # a step cut off by an injected error is never sent
            try:
                chunk = next(chunks)
            except StopIteration:
                self._unsent = None
                return
            yield chunk

    def _chunks(self) -> Iterator[bytes]:
        if not self.call.tools:
            for i in range(self.call.tokens):
                opening = self._open_message() if i == 0 else b""
                delta = self._event(
                    "response.output_text.delta", item_id=self.message_id, output_index=0,
                    content_index=0, delta=self._piece(i), logprobs=[],
                )
                yield opening + delta
            return
        for index, tool in enumerate(self.call.tools):
            last = len(tool.fragments) - 1
            for part, fragment in enumerate(tool.fragments):
                item_id = self._call_item_id(index)
                chunk = b""
                if part == 0:
                    item = self._call_item(index, "", "in_progress")
                    chunk = self._event("response.output_item.added", output_index=index, item=item)
                chunk += self._event(
                    "response.function_call_arguments.delta", item_id=item_id,
                    output_index=index, delta=fragment,
                )
                if part == last:
                    chunk += self._event(
                        "response.function_call_arguments.done", item_id=item_id,
                        output_index=index, arguments=tool.arguments,
                    )
                    done = self._call_item(index, tool.arguments, "completed")
                    chunk += self._event("response.output_item.done", output_index=index, item=done)
                yield chunk

    def closing(self, sent: int) -> list[bytes]:
        events = []
        if not self.call.tools:
            if sent == 0:
                events.append(self._open_message())
            text = "".join(self._piece(i) for i in range(sent))
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            events.append(self._event(
                "response.output_text.done", item_id=self.message_id, output_index=0,
                content_index=0, text=text, logprobs=[],
            ))
            events.append(self._event(
                "response.content_part.done", item_id=self.message_id, output_index=0,
                content_index=0, part=part,
            ))
            status = "incomplete" if self.call.finish == "length" else "completed"
            events.append(self._event(
                "response.output_item.done", output_index=0, item=self._message(text, status)
            ))
        final = self._final(sent)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        events.append(self._event(kind, response=final))
        return events

    def error_event(self) -> bytes:
        if self._unsent is not None:
            self.seq = self._unsent
        error = INJECTED["mid_stream"]
        return self._event("error", code="server_error", message=error.message, param=None)

    def whole(self) -> bytes:
        return orjson.dumps(self._final(self.units))

    # --- pieces ------------------------------------------------------------------------

    def _piece(self, index: int) -> str:
        return self.pieces[index] if self.pieces else token(index)

    def _final(self, sent: int) -> dict[str, Any]:
        call = self.call
        if call.tools:
            tools = enumerate(call.tools)
            output = [self._call_item(i, t.arguments, "completed") for i, t in tools]
        else:
            text = "".join(self.pieces[:sent]) if self.pieces else text_of(sent)
            output = [self._message(text, "incomplete" if call.finish == "length" else "completed")]
        status = "incomplete" if call.finish == "length" else "completed"
        return self._response(status, output, sent)

    def _open_message(self) -> bytes:
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return self._event(
            "response.output_item.added", output_index=0, item=self._message("", "in_progress")
        ) + self._event(
            "response.content_part.added", item_id=self.message_id, output_index=0,
            content_index=0, part=part,
        )

    def _message(self, text: str, status: str) -> dict[str, Any]:
        content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        return {"id": self.message_id, "type": "message", "role": "assistant", "status": status,
                "content": content if text or status != "in_progress" else []}

    def _call_item_id(self, index: int) -> str:
        return f"fc_sim{self.call.id}_{index}"

    def _call_item(self, index: int, arguments: str, status: str) -> dict[str, Any]:
        tool = self.call.tools[index]
        return {"id": self._call_item_id(index), "type": "function_call", "status": status,
                "call_id": tool.id, "name": tool.name, "arguments": arguments}

    def _response(self, status: str, output: list[Any], sent: int | None) -> dict[str, Any]:
        call = self.call
        echo = call.payload["echo"]
        usage = None
        if sent is not None:
            usage = {
                "input_tokens": call.prompt_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": sent,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": call.prompt_tokens + sent,
            }
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": self.id, "object": "response", "created_at": call.created, "status": status,
            "model": call.model, "output": output, "usage": usage, "error": None,
            "incomplete_details": incomplete, "parallel_tool_calls": True,
            "store": call.payload["store"] is not False, "background": False,
            **{key: value for key, value in echo.items()},
            "tools": echo["tools"] or [], "tool_choice": echo["tool_choice"] or "auto",
            "text": echo["text"] or {"format": {"type": "text"}},
            "metadata": echo["metadata"] or {},
        }

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps(payload))
