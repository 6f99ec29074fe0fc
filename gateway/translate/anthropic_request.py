"""An Anthropic Messages body decoded into a `ChatRequest` for another vendor.

Fields with no equivalent are refused with a 400 that names them. Accepted without effect
(documented in the README): `cache_control` on blocks (a caching hint), and text block
`citations`.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import BadRequest
from gateway.translate.refusal import refuse, strings, typed
from gateway.translate.types import (
    ChatRequest,
    ImagePart,
    Message,
    Part,
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
        "max_tokens",
        "system",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "metadata",
    }
)


def decode_messages(body: dict[str, Any], target: str) -> ChatRequest:
    """The request in neutral form; `target` (the provider kind) only words the refusals."""
    for name, value in body.items():
        if name in _HANDLED or value is None:
            continue
        if name == "thinking" and isinstance(value, dict) and value.get("type") == "disabled":
            continue
        if name == "service_tier" and value == "auto":
            continue
        raise refuse(name, target)
    request = ChatRequest(
        messages=[_message(m, f"messages[{i}]", target) for i, m in enumerate(body["messages"])],
        stream=bool(body.get("stream")),
        system=_system(body.get("system"), target),
        max_tokens=body.get("max_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        top_k=body.get("top_k"),
        stop=list(strings(body.get("stop_sequences") or [], "stop_sequences")),
        tools=[_tool(t, f"tools[{i}]", target) for i, t in enumerate(body.get("tools") or [])],
        user=_user(body.get("metadata"), target),
    )
    _tool_choice(body.get("tool_choice"), request, target)
    return request


def _system(system: Any, target: str) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    texts = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise refuse(f"system[{i}]", target, "only text blocks are supported")
        texts.append(_text(block, f"system[{i}]"))
    return "\n\n".join(texts) or None


def _user(metadata: Any, target: str) -> str | None:
    if not isinstance(metadata, dict):
        return None
    for key in metadata:
        if key != "user_id":
            raise refuse(f"metadata.{key}", target)
    return typed(metadata.get("user_id"), str, "metadata.user_id", "a string")


def _text(block: dict[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise BadRequest(f"'{where}.text' must be a string", param=f"{where}.text")
    return text


def _message(message: dict[str, Any], where: str, target: str) -> Message:
    role = message["role"]
    content = message.get("content")
    if isinstance(content, str):
        return Message(role, [TextPart(content)])
    if not isinstance(content, list):
        param = f"{where}.content"
        raise BadRequest(f"'{param}' must be a string or an array", param=param)
    parts: list[Part] = []
    for j, block in enumerate(content):
        param = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append(TextPart(_text(block, param)))
        elif kind == "image":
            parts.append(_image(block, param, target))
        elif kind == "tool_use" and role == "assistant":
            parts.append(_tool_use(block, param))
        elif kind == "tool_result" and role == "user":
            parts.append(_tool_result(block, param, target))
        else:
            raise refuse(param, target, f"a {role} block of type {kind!r} is not supported")
    return Message(role, parts)


def _image(block: dict[str, Any], param: str, target: str) -> ImagePart:
    source = block.get("source")
    if not isinstance(source, dict):
        raise BadRequest(f"'{param}.source' is required", param=param)
    kind = source.get("type")
    if kind == "base64":
        media_type = typed(source.get("media_type"), str, f"{param}.source.media_type",
                           "a string")
        data = source.get("data")
        if not isinstance(data, str):
            field = f"{param}.source.data"
            raise BadRequest(f"'{field}' is required (base64 text)", param=field)
        return ImagePart(param, media_type=media_type, data=data)
    if kind == "url" and isinstance(source.get("url"), str):
        return ImagePart(param, url=source["url"])
    raise refuse(f"{param}.source", target, f"image source {kind!r} is not supported")


def _tool_use(block: dict[str, Any], param: str) -> ToolCall:
    call_id, name = _required_text(block, "id", param), _required_text(block, "name", param)
    arguments = typed(block.get("input"), dict, f"{param}.input", "an object")
    try:
        encoded = orjson.dumps(arguments or {})
    except orjson.JSONEncodeError as exc:  # nested deeper than orjson encodes
        field = f"{param}.input"
        raise BadRequest(f"'{field}' cannot be sent on: {exc}", param=field) from None
    return ToolCall(call_id, name, encoded.decode())


def _required_text(block: dict[str, Any], key: str, param: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"'{param}.{key}' is required (a string)", param=f"{param}.{key}")
    return value


def _tool_result(block: dict[str, Any], param: str, target: str) -> ToolResult:
    content = typed(block.get("content"), (str, list), f"{param}.content",
                    "a string or an array")
    parts: list[TextPart | ImagePart] = []
    if isinstance(content, str):
        parts.append(TextPart(content))
    elif isinstance(content, list):
        for k, item in enumerate(content):
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "text":
                parts.append(TextPart(_text(item, f"{param}.content[{k}]")))
            elif kind == "image":
                parts.append(_image(item, f"{param}.content[{k}]", target))
            else:
                raise refuse(f"{param}.content[{k}]", target, f"type {kind!r} is not supported")
    is_error = typed(block.get("is_error"), bool, f"{param}.is_error", "a boolean")
    return ToolResult(_required_text(block, "tool_use_id", param), parts, bool(is_error))


def _tool(tool: Any, where: str, target: str) -> Tool:
    if not isinstance(tool, dict) or tool.get("type", "custom") != "custom":
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise refuse(where, target, f"server tool {kind!r} can only run on Anthropic")
    name = _required_text(tool, "name", where)
    description = typed(tool.get("description"), str, f"{where}.description", "a string")
    schema = typed(tool.get("input_schema"), dict, f"{where}.input_schema", "an object")
    return Tool(name, description, schema or {"type": "object", "properties": {}})


def _tool_choice(choice: Any, request: ChatRequest, target: str) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    modes = {"auto": "auto", "any": "required", "none": "none", "tool": "tool"}
    if not isinstance(kind, str) or kind not in modes:
        raise refuse("tool_choice", target, f"type {kind!r} is not supported")
    name = choice.get("name") if kind == "tool" else None
    if kind == "tool" and not isinstance(name, str):
        raise BadRequest("'tool_choice.name' is required with type 'tool'", param="tool_choice")
    request.tool_choice = ToolChoice(modes[kind], name)  # type: ignore[arg-type]
    one_at_a_time = choice.get("disable_parallel_tool_use")
    if typed(one_at_a_time, bool, "tool_choice.disable_parallel_tool_use", "a boolean"):
        request.parallel_tool_calls = False
