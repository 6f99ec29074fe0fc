"""An OpenAI Responses API body decoded into a `ChatRequest` for a chat-shaped upstream.

`input` items become turns: messages (input_text / input_image parts), function_call items
(assistant tool calls) and function_call_output items (tool results); reasoning items of
earlier turns have no vendor-neutral form and are not forwarded. What has no equivalent is
refused with a 400 naming the Responses field (`tools[0].type`, `text.format`, ...).
Accepted without effect: `metadata`, `store`, `background` (the gateway's own), `user` where
the vendor has no such field, `safety_identifier`, `prompt_cache_key`, `tools[].strict`.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import BadRequest
from gateway.translate.openai_request import _image, _tool_choice
from gateway.translate.refusal import refuse
from gateway.translate.types import (
    ChatRequest,
    Message,
    Part,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolResult,
)

_HANDLED = frozenset(
    {
        "model", "input", "instructions", "stream", "max_output_tokens", "temperature", "top_p",
        "tools", "tool_choice", "parallel_tool_calls", "text", "user", "metadata", "store",
        "background", "previous_response_id", "reasoning", "include", "safety_identifier",
        "prompt_cache_key",
    }
)  # fmt: skip
_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "truncation": ("disabled",),
    "service_tier": ("auto", "default"),
    "top_logprobs": (0,),
    "stream_options": ({},),
}
# `include` values that need nothing from a translated upstream
_INCLUDABLE = frozenset({"reasoning.encrypted_content"})
# chat field names in the providers' refusals -> the Responses field the caller sent
_RENAMED = {"response_format": "text.format", "max_tokens": "max_output_tokens"}


def decode_responses(body: dict[str, Any], target: str) -> ChatRequest:
    """The request in neutral form; `target` (the provider kind) only words the refusals."""
    for name, value in body.items():
        if name not in _HANDLED and value is not None and value not in _DEFAULTS.get(name, ()):
            raise refuse(name, target)
    for value in body.get("include") or ():
        if value not in _INCLUDABLE:
            raise refuse("include", target, f"{value!r} cannot be included")
    system, messages = _turns(body.get("input"), target)
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        system = instructions + ("\n\n" + system if system else "")
    chat = ChatRequest(
        messages=messages,
        stream=bool(body.get("stream")),
        system=system,
        max_tokens=body.get("max_output_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        tools=_tools(body.get("tools") or [], target),
        tool_choice=_tool_choice(body.get("tool_choice"), target),
        parallel_tool_calls=body.get("parallel_tool_calls"),
        user=body.get("user"),
        response_format=_text_format(body.get("text"), target),
        reasoning_effort=_reasoning(body.get("reasoning"), target),
    )
    return chat


def responses_param(err: BadRequest) -> BadRequest:
    """A provider's refusal worded with the Responses field name the caller used."""
    renamed = _RENAMED.get(err.param or "")
    if renamed is None:
        return err
    message = err.message.replace(f"'{err.param}'", f"'{renamed}'")
    return BadRequest(message, param=renamed)


def message_items(value: Any) -> list[dict[str, Any]]:
    """`input` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


def _turns(value: Any, target: str) -> tuple[str | None, list[Message]]:
    system: list[str] = []
    messages: list[Message] = []

    def add(role: str, part: Part) -> None:
        if messages and messages[-1].role == role and not _mixes(messages[-1], part):
            messages[-1].parts.append(part)
        else:
            messages.append(Message(role, [part]))  # type: ignore[arg-type]

    for i, item in enumerate(message_items(value)):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f"'{where}' must be an object", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                system.extend(p.text for p in _parts(item.get("content"), where, target, False))
            elif role in ("user", "assistant"):
                for part in _parts(item.get("content"), where, target, role == "user"):
                    add(role, part)
            else:
                raise BadRequest(f"'{where}.role' must be user, assistant, system or developer",
                                 param=f"{where}.role")
        elif kind == "function_call":
            add("assistant", _call(item, where))
        elif kind == "function_call_output":
            output = item.get("output")
            parts = _parts(output, f"{where}.output", target, True) if output else []
            add("user", ToolResult(_string(item, "call_id", where), parts))
        elif kind != "reasoning":
            raise refuse(f"{where}.type", target, f"input items of type {kind!r}")
    return ("\n\n".join(system) if system else None), messages


def _mixes(message: Message, part: Part) -> bool:
    """A tool result never shares a turn with user text (OpenAI wants results first)."""
    return isinstance(part, ToolResult) != isinstance(message.parts[-1], ToolResult)


def _parts(content: Any, where: str, target: str, images: bool) -> list[Any]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise BadRequest(f"'{where}.content' must be a string or an array", param=where)
    parts: list[Any] = []
    for j, part in enumerate(content):
        param = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        text = part.get("text") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text") and isinstance(text, str):
            parts.append(TextPart(text))
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append(TextPart(part["refusal"]))
        elif kind == "input_image" and images and isinstance(part.get("image_url"), str):
            parts.append(_image(part["image_url"], param))
        else:
            raise refuse(param, target, f"content part of type {kind!r} is not supported here")
    return parts


def _call(item: dict[str, Any], where: str) -> ToolCall:
    arguments = item.get("arguments")
    return ToolCall(
        _string(item, "call_id", where),
        _string(item, "name", where),
        arguments if isinstance(arguments, str) and arguments else "{}",
    )


def _string(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{where}.{key}' is required", param=f"{where}.{key}")
    return value


def _tools(tools: list[Any], target: str) -> list[Tool]:
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise refuse(f"tools[{i}].type", target, f"only function tools, not {kind!r}")
        if not isinstance(tool.get("name"), str):
            raise BadRequest(f"'tools[{i}].name' is required", param=f"tools[{i}].name")
        parameters = tool.get("parameters") or {"type": "object", "properties": {}}
        out.append(Tool(tool["name"], tool.get("description"), parameters))
    return out


def _text_format(text: Any, target: str) -> ResponseFormat | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise BadRequest("'text' must be an object", param="text")
    if text.get("verbosity") is not None:
        raise refuse("text.verbosity", target)
    value = text.get("format")
    kind = value.get("type") if isinstance(value, dict) else None
    if value is None or kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind == "json_schema" and isinstance(value.get("schema"), dict):
        return ResponseFormat("json_schema", value["schema"])
    raise refuse("text.format", target, f"type {kind!r} is not supported")


def _reasoning(value: Any, target: str) -> str | None:
    """`reasoning.effort` maps to chat's `reasoning_effort` (OpenAI-kind servers only)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest("'reasoning' must be an object", param="reasoning")
    effort = value.get("effort")
    if effort is None and not value.get("summary"):
        return None
    if target != "openai" or value.get("summary"):
        raise refuse("reasoning", target)
    return str(effort)
