"""Checks on OpenAI- and Anthropic-shaped request bodies: clear 400s that name the bad field."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import BadRequest

_NUMBER = (int, float)
INT32_MAX = 2**31 - 1
INT64 = (-(2**63), 2**63 - 1)
# name -> (types, what to say, (lowest, highest) or None): ranges are those no provider accepts
# beyond, so a call outside them is a 400 here instead of an upstream failure or overload.
Rule = tuple[type | tuple[type, ...], str, tuple[float, float] | None]
_TOKENS: Rule = (int, "an integer", (1, INT32_MAX))
_COMMON: dict[str, Rule] = {
    "model": (str, "a string", None),
    "stream": (bool, "a boolean", None),
    "stream_options": (dict, "an object", None),
    "max_tokens": _TOKENS,
    "max_completion_tokens": _TOKENS,
    "max_output_tokens": _TOKENS,
    "n": (int, "an integer", (1, 128)),
    "temperature": (_NUMBER, "a number", (0, 2)),
    "top_p": (_NUMBER, "a number", (0, 1)),
    "presence_penalty": (_NUMBER, "a number", (-2, 2)),
    "frequency_penalty": (_NUMBER, "a number", (-2, 2)),
    "top_logprobs": (int, "an integer", (0, 20)),
    "seed": (int, "an integer", INT64),
    "user": (str, "a string", None),
    "stop": ((str, list), "a string or an array of strings", None),
    "tools": (list, "an array", None),
    "dimensions": (int, "an integer", (1, 65536)),
}
_REQUIRED: dict[str, tuple[str, type | tuple[type, ...], str]] = {
    "chat": ("messages", list, "an array of messages"),
    "completions": ("prompt", (str, list), "a string or an array"),
    "embeddings": ("input", (str, list), "a string or an array"),
}


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise BadRequest("the request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def validate_openai(route: str, body: dict[str, Any]) -> None:
    """Raise BadRequest for a missing or mistyped field of an OpenAI-shaped call."""
    if "model" not in body:
        raise BadRequest("you must provide a model parameter", param="model")
    _check_types(body, _COMMON)
    field, kinds, label = _REQUIRED[route]
    value = body.get(field)
    if value is None:
        raise BadRequest(f"'{field}' is required", param=field)
    if not isinstance(value, kinds):
        raise BadRequest(f"'{field}' must be {label}", param=field)
    if route == "chat":
        _check_messages(value)  # type: ignore[arg-type]
    if body.get("stream_options") is not None and not body.get("stream"):
        raise BadRequest(
            "'stream_options' is only allowed when 'stream' is true", param="stream_options"
        )
    if route == "embeddings" and body.get("stream"):
        raise BadRequest("embeddings cannot be streamed", param="stream")


def _check_types(body: dict[str, Any], fields: dict[str, Rule]) -> None:
    """Types and ranges of the fields present (a dict lookup per field of the body)."""
    for name, value in body.items():
        rule = fields.get(name)
        if rule is None or value is None:
            continue
        kinds, label, bounds = rule
        if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
            raise BadRequest(f"'{name}' must be {label}, got {type(value).__name__}", param=name)
        if bounds is not None and not bounds[0] <= value <= bounds[1]:  # type: ignore[operator]
            raise BadRequest(
                f"'{name}' must be between {bounds[0]} and {bounds[1]}, got {value!r}",
                param=name,
            )


def _check_messages(messages: list[Any]) -> None:
    if not messages:
        raise BadRequest("'messages' must contain at least one message", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(
                f"'messages[{index}]' must be an object with a 'role' string",
                param=f"messages[{index}]",
            )


_ANTHROPIC: dict[str, Rule] = {
    "model": (str, "a string", None),
    "max_tokens": _TOKENS,
    "stream": (bool, "a boolean", None),
    "system": ((str, list), "a string or an array of text blocks", None),
    "temperature": (_NUMBER, "a number", (0, 2)),  # Anthropic's own top is 1; others take 2
    "top_p": (_NUMBER, "a number", (0, 1)),
    "top_k": (int, "an integer", (0, INT32_MAX)),
    "stop_sequences": (list, "an array of strings", None),
    "tools": (list, "an array", None),
    "tool_choice": (dict, "an object", None),
    "metadata": (dict, "an object", None),
}


def validate_anthropic(body: dict[str, Any]) -> None:
    """Raise BadRequest for a missing or mistyped field of an Anthropic Messages call."""
    for name in ("model", "max_tokens", "messages"):
        if body.get(name) is None:
            raise BadRequest(f"{name}: Field required", param=name)
    _check_types(body, _ANTHROPIC)
    messages = body["messages"]
    if not isinstance(messages, list):
        raise BadRequest("messages: Input should be a valid list", param="messages")
    _check_messages(messages)
    for index, message in enumerate(messages):
        if message["role"] not in ("user", "assistant"):
            raise BadRequest(
                f"messages.{index}.role: Input should be 'user' or 'assistant'",
                param=f"messages[{index}].role",
            )
        if not isinstance(message.get("content"), (str, list)):
            raise BadRequest(
                f"messages.{index}.content: Field required", param=f"messages[{index}].content"
            )


_RESPONSES: dict[str, Rule] = {
    "model": (str, "a string", None),
    "input": ((str, list), "a string or an array of items", None),
    "instructions": (str, "a string", None),
    "stream": (bool, "a boolean", None),
    "background": (bool, "a boolean", None),
    "store": (bool, "a boolean", None),
    "max_output_tokens": _TOKENS,
    "temperature": (_NUMBER, "a number", (0, 2)),
    "top_p": (_NUMBER, "a number", (0, 1)),
    "top_logprobs": (int, "an integer", (0, 20)),
    "tools": (list, "an array", None),
    "tool_choice": ((str, dict), "a string or an object", None),
    "parallel_tool_calls": (bool, "a boolean", None),
    "text": (dict, "an object", None),
    "reasoning": (dict, "an object", None),
    "metadata": (dict, "an object", None),
    "include": (list, "an array", None),
    "previous_response_id": (str, "a string", None),
    "user": (str, "a string", None),
}


def validate_responses(body: dict[str, Any]) -> None:
    """Raise BadRequest for a missing or mistyped field of a Responses API call."""
    if "model" not in body:
        raise BadRequest("you must provide a model parameter", param="model")
    _check_types(body, _RESPONSES)
    if body.get("input") is None and body.get("previous_response_id") is None:
        raise BadRequest("'input' is required", param="input")
    if body.get("stream") and body.get("background"):
        raise BadRequest(
            "'background' responses cannot be streamed by this gateway; create it without "
            "'stream' and retrieve it with GET /v1/responses/{id}",
            param="stream",
        )
    if body.get("background") and body.get("store") is False:
        raise BadRequest("'background' requires 'store' to be true", param="store")


def validate_deferred_responses(body: dict[str, Any]) -> None:
    """A Responses call for the batch lane: it runs later, alone, and is kept by the batch."""
    validate_responses(body)
    for name in ("previous_response_id", "background"):
        if body.get(name):
            raise BadRequest(f"'{name}' cannot be used in a batch", param=name)


MAX_DEPTH = 254  # nesting levels; orjson, which re-encodes every body sent on, stops there


def check_storable(value: Any, where: str = "") -> None:
    """A value kept in the database (a deferred call, a batch line, metadata): no NUL character
    in any string or key (Postgres text and jsonb refuse it) and at most MAX_DEPTH levels of
    nesting. Raises BadRequest naming the field; a clean value costs one C-level encode."""
    try:
        if b"\\u0000" not in orjson.dumps(value):
            return
    except orjson.JSONEncodeError:
        pass  # too deep (or not JSON at all): the walk below names where
    found = _nul_at(value, where, 1)
    if found is not None:
        raise BadRequest(f"'{found or 'body'}' contains a NUL character (\\u0000)", param=found)


def _nul_at(value: Any, where: str, depth: int) -> str | None:
    if isinstance(value, str):
        return where if "\x00" in value else None
    if not isinstance(value, dict | list):
        return None
    if depth > MAX_DEPTH:
        raise BadRequest(
            f"'{where or 'body'}' is nested more than {MAX_DEPTH} levels deep", param=where or None
        )
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        path = f"{where}[{key}]" if isinstance(key, int) else (f"{where}.{key}" if where else key)
        if isinstance(key, str) and "\x00" in key:
            return path
        found = _nul_at(item, path, depth + 1)
        if found is not None:
            return found
    return None
