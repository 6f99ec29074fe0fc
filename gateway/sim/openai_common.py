"""Pieces shared by the OpenAI-shaped routes: key, tools, usage, finish reasons."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.sim.call import Call
from gateway.sim.directive import Plan
from gateway.sim.errors import INJECTED, error_payload
from gateway.sim.exchange import Exchange
from gateway.sim.state import SimState
from gateway.sim.tools import ToolSpec

DONE = b"data: [DONE]\n\n"
FINISH = {"stop": "stop", "length": "length", "tool": "tool_calls"}
MID_STREAM_EVENT = b"data: %s\n\n" % orjson.dumps(error_payload("openai", INJECTED["mid_stream"]))


def bearer_key(ex: Exchange) -> str | None:
    """The token of an `Authorization: Bearer` header."""
    value = ex.header(b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else value


def tool_specs(tools: Any) -> list[ToolSpec]:
    """The function tools of a request (`{"type":"function","function":{...}}` or flat)."""
    specs = []
    if isinstance(tools, list):
        for tool in tools:
            if isinstance(tool, dict):
                function = tool.get("function", tool)
                if isinstance(function, dict) and isinstance(function.get("name"), str):
                    specs.append(ToolSpec(function["name"], function.get("parameters")))
    return specs


def tool_choice(choice: Any) -> tuple[str | None, bool]:
    """The named function and whether some call is required, from `tool_choice`."""
    if choice == "required":
        return None, True
    if isinstance(choice, dict):
        function = choice.get("function", choice)
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return function["name"], True
    return None, False


def wants_usage(state: SimState, body: dict[str, Any], plan: Plan) -> bool:
    """Whether a stream ends with a usage chunk."""
    if plan.usage is not None:
        return plan.usage
    if state.options.no_stream_usage:
        return False
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def usage(call: Call, completion_tokens: int) -> dict[str, Any]:
    """An OpenAI usage object (with `prompt_tokens_details` when the plan cached input)."""
    prompt = call.input_tokens
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }
    if call.plan.cached or call.plan.cache_write:
        out["prompt_tokens_details"] = {"cached_tokens": call.plan.cached}
    return out


def model_of(body: dict[str, Any]) -> str:
    """The requested model name (any is accepted)."""
    model = body.get("model")
    return model if isinstance(model, str) and model else "sim-gpt"


def max_tokens_of(body: dict[str, Any]) -> Any:
    """The output cap a request sets, if any."""
    value = body.get("max_completion_tokens")
    return body.get("max_tokens") if value is None else value
