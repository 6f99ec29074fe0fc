"""An OpenAI chat completions body decoded into a `ChatRequest` for another vendor.

Fields with no equivalent are refused with a 400 that names them; none is dropped silently.
Accepted without effect (documented in the README): `user` where the vendor has no such
field, `tools[].function.strict`, a message's `name`, and `stream_options` other than
`include_usage`.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import BadRequest
from gateway.translate.refusal import refuse, strings, typed
from gateway.translate.types import (
    ChatRequest,
    ImagePart,
    Message,
    Part,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

_HANDLED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "response_format",
    }
)
# Values that ask for nothing beyond the default, so there is nothing to translate.
_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "logprobs": (False,),
    "modalities": (["text"],),
    "store": (False,),
    "logit_bias": ({},),
    "service_tier": ("auto", "default"),
}


def decode_chat(body: dict[str, Any], target: str) -> ChatRequest:
    """The request in neutral form; `target` (the provider kind) only words the refusals."""
    for name, value in body.items():
        if name not in _HANDLED and value is not None and value not in _DEFAULTS.get(name, ()):
            raise refuse(name, target)
    n = body.get("n")
    if n is not None and n != 1:
        raise refuse("n", target, "only one choice (n=1) can be produced")
    system, messages = _messages(body["messages"], target)
    return ChatRequest(
        messages=messages,
        stream=bool(body.get("stream")),
        system=system,
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        stop=_stop(body.get("stop")),
        tools=_tools(body.get("tools") or [], target),
        tool_choice=_tool_choice(body.get("tool_choice"), target),
        parallel_tool_calls=typed(
            body.get("parallel_tool_calls"), bool, "parallel_tool_calls", "a boolean"
        ),
        user=body.get("user"),
        presence_penalty=body.get("presence_penalty") or None,
        frequency_penalty=body.get("frequency_penalty") or None,
        seed=body.get("seed"),
        response_format=_response_format(body.get("response_format"), target),
    )


def include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    return list(strings(stop, "stop"))


def _messages(raw: list[dict[str, Any]], target: str) -> tuple[str | None, list[Message]]:
    system: list[str] = []
    messages: list[Message] = []
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        role = message["role"]
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(p.text for p in _user_parts(content, where, target, images=False))
        elif role == "user":
            messages.append(Message("user", _user_parts(content, where, target)))
        elif role == "assistant":
            messages.append(Message("assistant", _assistant_parts(message, where, target)))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                param = f"{where}.tool_call_id"
                raise BadRequest(f"'{param}' is required (a string)", param=param)
            parts = _user_parts(content, where, target, images=False)
            messages.append(Message("user", [ToolResult(call_id, list(parts))]))
        else:
            raise refuse(f"{where}.role", target, f"role {role!r} is not supported")
    return ("\n\n".join(system) if system else None), messages


def _user_parts(content: Any, where: str, target: str, *, images: bool = True) -> list[Any]:
    if isinstance(content, str):
        return [TextPart(content)]
    if content is None:
        return []
    if not isinstance(content, list):
        param = f"{where}.content"
        raise BadRequest(f"'{param}' must be a string or an array", param=param)
    parts: list[Any] = []
    for j, part in enumerate(content):
        param = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append(TextPart(_text(part, param)))
        elif kind == "image_url" and images:
            parts.append(_image(part.get("image_url"), param))
        else:
            raise refuse(param, target, f"content part of type {kind!r} is not supported here")
    return parts


def _text(part: dict[str, Any], param: str) -> str:
    text = part.get("text")
    if not isinstance(text, str):
        raise BadRequest(f"'{param}.text' must be a string", param=f"{param}.text")
    return text


def _image(image: Any, param: str) -> ImagePart:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise BadRequest(f"'{param}.image_url.url' is required", param=f"{param}.image_url.url")
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            raise BadRequest(f"'{param}': a data URL must be base64-encoded", param=param)
        return ImagePart(param, media_type=media_type or None, data=data)
    return ImagePart(param, url=url)


def _assistant_parts(message: dict[str, Any], where: str, target: str) -> list[Part]:
    for field in ("function_call", "audio"):
        if message.get(field) is not None:
            raise refuse(f"{where}.{field}", target)
    parts: list[Part] = []
    content = typed(message.get("content"), (str, list), f"{where}.content",
                    "a string or an array")
    refusal = typed(message.get("refusal"), str, f"{where}.refusal", "a string")
    if isinstance(content, list):
        for j, part in enumerate(content):
            text = part.get("text") or part.get("refusal") if isinstance(part, dict) else None
            if not isinstance(text, str):
                raise refuse(f"{where}.content[{j}]", target, "only text parts are supported")
            parts.append(TextPart(text))
    elif content:
        parts.append(TextPart(content))
    elif refusal is not None:
        parts.append(TextPart(refusal))
    calls = typed(message.get("tool_calls"), list, f"{where}.tool_calls", "an array")
    for j, call in enumerate(calls or ()):
        parts.append(_tool_call(call, f"{where}.tool_calls[{j}]", j))
    return parts


def _tool_call(call: Any, where: str, index: int) -> ToolCall:
    typed(call, dict, where, "an object")
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        param = f"{where}.function.name"
        raise BadRequest(f"'{param}' is required (a string)", param=param)
    call_id = typed(call.get("id"), str, f"{where}.id", "a string")
    arguments = typed(function.get("arguments"), str, f"{where}.function.arguments",
                      "a string of JSON")
    return ToolCall(call_id or f"call_{index}", function["name"], arguments or "{}")


def _tools(tools: list[Any], target: str) -> list[Tool]:
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise refuse(f"tools[{i}].type", target, "only function tools can be translated")
        function = tool.get("function")
        where = f"tools[{i}].function"
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise BadRequest(f"'{where}.name' is required (a string)", param=f"{where}.name")
        description = typed(function.get("description"), str, f"{where}.description",
                            "a string")
        parameters = typed(function.get("parameters"), dict, f"{where}.parameters", "an object")
        out.append(Tool(function["name"], description,
                        parameters or {"type": "object", "properties": {}}))
    return out


def _tool_choice(choice: Any, target: str) -> ToolChoice | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function", choice)  # chat's, or the Responses API's
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str):
            return ToolChoice("tool", name)
    raise refuse("tool_choice", target, f"{choice!r} is not supported")


def _response_format(value: Any, target: str) -> ResponseFormat | None:
    kind = value.get("type") if isinstance(value, dict) else None
    if value is None or kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind == "json_schema":
        spec = typed(value.get("json_schema"), dict, "response_format.json_schema", "an object")
        schema = (spec or {}).get("schema")
        if isinstance(schema, dict):
            return ResponseFormat("json_schema", schema)
    raise refuse("response_format", target, f"type {kind!r} is not supported")
