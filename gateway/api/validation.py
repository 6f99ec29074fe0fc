"""Checks on OpenAI- and Anthropic-shaped request bodies: clear 400s that name the bad field."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import BadRequest

_NUMBER = (int, float)
_COMMON: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "a string"),
    "stream": (bool, "a boolean"),
    "stream_options": (dict, "an object"),
    "max_tokens": (int, "an integer"),
    "max_completion_tokens": (int, "an integer"),
    "n": (int, "an integer"),
    "temperature": (_NUMBER, "a number"),
    "top_p": (_NUMBER, "a number"),
    "presence_penalty": (_NUMBER, "a number"),
    "frequency_penalty": (_NUMBER, "a number"),
    "user": (str, "a string"),
    "stop": ((str, list), "a string or an array of strings"),
    "tools": (list, "an array"),
    "dimensions": (int, "an integer"),
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


def _check_types(
    body: dict[str, Any], fields: dict[str, tuple[type | tuple[type, ...], str]]
) -> None:
    for name, (kinds, label) in fields.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
            raise BadRequest(f"'{name}' must be {label}, got {type(value).__name__}", param=name)


def _check_messages(messages: list[Any]) -> None:
    if not messages:
        raise BadRequest("'messages' must contain at least one message", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(
                f"'messages[{index}]' must be an object with a 'role' string",
                param=f"messages[{index}]",
            )


_ANTHROPIC: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "a string"),
    "max_tokens": (int, "an integer"),
    "stream": (bool, "a boolean"),
    "system": ((str, list), "a string or an array of text blocks"),
    "temperature": (_NUMBER, "a number"),
    "top_p": (_NUMBER, "a number"),
    "top_k": (int, "an integer"),
    "stop_sequences": (list, "an array of strings"),
    "tools": (list, "an array"),
    "tool_choice": (dict, "an object"),
    "metadata": (dict, "an object"),
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


_RESPONSES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "a string"),
    "input": ((str, list), "a string or an array of items"),
    "instructions": (str, "a string"),
    "stream": (bool, "a boolean"),
    "background": (bool, "a boolean"),
    "store": (bool, "a boolean"),
    "max_output_tokens": (int, "an integer"),
    "temperature": (_NUMBER, "a number"),
    "top_p": (_NUMBER, "a number"),
    "tools": (list, "an array"),
    "tool_choice": ((str, dict), "a string or an object"),
    "parallel_tool_calls": (bool, "a boolean"),
    "text": (dict, "an object"),
    "reasoning": (dict, "an object"),
    "metadata": (dict, "an object"),
    "include": (list, "an array"),
    "previous_response_id": (str, "a string"),
    "user": (str, "a string"),
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
