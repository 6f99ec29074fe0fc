"""Gemini `:generateContent` and `:streamGenerateContent?alt=sse` under `/v1beta/models/`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import orjson

from gateway.sim.call import Call, build_call
from gateway.sim.directive import plan_for
from gateway.sim.errors import INJECTED, error_payload
from gateway.sim.exchange import Exchange
from gateway.sim.generation import BadRequest
from gateway.sim.prompts import answers_tool, gemini_prompt
from gateway.sim.state import SimState
from gateway.sim.structured import gemini_schema, pieces
from gateway.sim.tools import ToolSpec, choose_tool

FINISH_REASON = {"stop": "STOP", "length": "MAX_TOKENS", "tool": "STOP"}
ERROR_EVENT = b"data: " + orjson.dumps(error_payload("gemini", INJECTED["mid_stream"])) + b"\n\n"


def model_and_method(path: str) -> tuple[str, str]:
    """Model and method of a path like `/v1beta/models/gemini-x:streamGenerateContent`."""
    model, _, method = path.rpartition("/models/")[2].partition(":")
    return model, method


def tool_specs(tools: Any) -> list[ToolSpec]:
    """Every function declaration of every tool."""
    specs = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        declarations = tool.get("functionDeclarations") or tool.get("function_declarations") or []
        for decl in declarations:
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                parameters = (
                    decl.get("parameters")
                    or decl.get("parametersJsonSchema")
                    or decl.get("parameters_json_schema")
                )
                specs.append(ToolSpec(decl["name"], parameters))
    return specs


def tool_choice(config: Any) -> tuple[str | None, bool]:
    """The one allowed function name and whether mode ANY forces a call."""
    calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(calling, dict) or calling.get("mode") != "ANY":
        return None, False
    allowed = calling.get("allowedFunctionNames")
    return (allowed[0] if isinstance(allowed, list) and allowed else None), True


class GeminiDialect:
    """The Gemini generateContent API."""

    api = "gemini"

    def api_key(self, ex: Exchange) -> str | None:
        key = ex.header(b"x-goog-api-key")
        if key is None and b"key=" in ex.scope["query_string"]:
            values = parse_qs(ex.scope["query_string"].decode("latin-1")).get("key")
            key = values[0] if values else None
        return key

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        contents = body.get("contents")
        if not isinstance(contents, list):
            raise BadRequest("contents must be a list")
        system = body.get("systemInstruction") or body.get("system_instruction")
        text, words = gemini_prompt(system, contents)
        plan = plan_for(state.base_plan, text)
        tool = None
        if not answers_tool(contents):
            named, forced = tool_choice(body.get("toolConfig"))
            tool = choose_tool(tool_specs(body.get("tools")), named, forced, plan.tool_calls)
        model, method = model_and_method(ex.scope["path"])
        config = body.get("generationConfig")
        max_tokens = config.get("maxOutputTokens") if isinstance(config, dict) else None
        schema = gemini_schema(config)
        structured = pieces(schema, state.options.seed) if schema is not None else ()
        stream = method == "streamGenerateContent"
        return build_call(
            state, call_id, model, stream, words, plan, max_tokens, tool, pieces=structured
        )

    def answer(self, state: SimState, call: Call) -> GeminiAnswer:
        return GeminiAnswer(call)


class GeminiAnswer:
    """A GenerateContentResponse, whole or as one SSE chunk per token (or function call)."""

    ping = None

    def __init__(self, call: Call) -> None:
        self.call = call
        self.units = len(call.tools) if call.tools else call.tokens

    def opening(self) -> list[bytes]:
        return []

    def steps(self) -> Iterator[bytes]:
        last = self.units - 1
        for i in range(self.units):
            parts = [self._part(i)]
            response = self._response(parts, i + 1, i == last)
            yield b"data: " + orjson.dumps(response) + b"\n\n"

    def closing(self, sent: int) -> list[bytes]:
        if sent:
            return []
        return [b"data: " + orjson.dumps(self._response([{"text": ""}], 0, True)) + b"\n\n"]

    def error_event(self) -> bytes:
        return ERROR_EVENT

    def whole(self) -> bytes:
        if self.call.tools:
            parts = [self._part(i) for i in range(self.units)]
        else:
            parts = [{"text": self.call.text()}]
        return orjson.dumps(self._response(parts, self.units, True))

    def _part(self, index: int) -> dict[str, Any]:
        if self.call.tools:
            tool = self.call.tools[index]
            return {"functionCall": {"name": tool.name, "args": tool.args}}
        return {"text": self.call.token_text(index)}

    def _response(self, parts: list[Any], generated: int, final: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if final:
            candidate["finishReason"] = FINISH_REASON[self.call.finish]
        prompt = self.call.input_tokens
        usage = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": generated,
            "totalTokenCount": prompt + generated,
        }
        if self.call.plan.cached:
            usage["cachedContentTokenCount"] = self.call.plan.cached
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": self.call.model,
            "responseId": f"sim{self.call.id}",
        }
