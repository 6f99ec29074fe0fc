"""Token counting without generating: Anthropic `POST /v1/messages/count_tokens` and Gemini
`:countTokens`. The count is the prompt's word count, the same figure a generation reports as
its input usage."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.sim.anthropic_messages import MessagesDialect
from gateway.sim.call import Call, JsonAnswer, build_call
from gateway.sim.directive import plan_for
from gateway.sim.embeddings import IMMEDIATE
from gateway.sim.exchange import Exchange
from gateway.sim.gemini import GeminiDialect, model_and_method
from gateway.sim.generation import BadRequest
from gateway.sim.prompts import anthropic_prompt, gemini_prompt
from gateway.sim.state import SimState


class AnthropicCountDialect:
    """`{"model", "messages", "system", "tools"}` -> `{"input_tokens": N}`."""

    api = "anthropic"
    api_key = MessagesDialect.api_key

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise BadRequest("messages: Field required")
        text, words = anthropic_prompt(body.get("system"), messages)
        model = body.get("model")
        model = model if isinstance(model, str) and model else "sim-claude"
        return build_call(state, call_id, model, False, words, plan_for(IMMEDIATE, text), 0)

    def answer(self, state: SimState, call: Call) -> JsonAnswer:
        return JsonAnswer(orjson.dumps({"input_tokens": call.prompt_tokens}))


class GeminiCountDialect:
    """`{"contents"}` or `{"generateContentRequest": {...}}` -> `{"totalTokens": N}`."""

    api = "gemini"
    api_key = GeminiDialect.api_key

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        request = body.get("generateContentRequest")
        request = request if isinstance(request, dict) else body
        contents = request.get("contents")
        if not isinstance(contents, list):
            raise BadRequest("contents must be a list")
        system = request.get("systemInstruction") or request.get("system_instruction")
        text, words = gemini_prompt(system, contents)
        model, _ = model_and_method(ex.scope["path"])
        return build_call(state, call_id, model, False, words, plan_for(IMMEDIATE, text), 0)

    def answer(self, state: SimState, call: Call) -> JsonAnswer:
        return JsonAnswer(orjson.dumps({"totalTokens": call.prompt_tokens}))
