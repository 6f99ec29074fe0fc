"""A Gemini generateContent body decoded into a `ChatRequest` for another vendor.

Fields with no equivalent are refused with a 400 that names them (by their Gemini name).
Message fields may be camelCase or snake_case, as in any protobuf JSON (the google-genai SDK
sends `parameters_json_schema`); schemas, arguments and responses are taken as they are.
Gemini's function calls carry no id: the gateway names them `call_<n>` in order and answers each
`functionResponse` with the oldest unanswered call of that name. A part's `thoughtSignature`
(an opaque token Gemini asks to have echoed back) and `safetySettings` that only restate
defaults have no effect elsewhere and are accepted.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from gateway.errors import BadRequest
from gateway.translate.refusal import refuse
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
    {"model", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
)
_CONFIG = {
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "maxOutputTokens": "max_tokens",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
    "seed": "seed",
}
_CONFIG_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "candidateCount": (1,),
    "responseMimeType": ("text/plain", "application/json"),
    "responseModalities": (["TEXT"],),
}
_SCHEMA_KEYS = ("responseJsonSchema", "responseSchema")
_MODES = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}


def camel(message: Any) -> Any:
    """A protobuf message's keys in camelCase (its values untouched)."""
    if not isinstance(message, dict):
        return message
    return {_camel_name(key): value for key, value in message.items()}


def _camel_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def decode_generate(body: dict[str, Any], target: str) -> ChatRequest:
    """The request in neutral form; `target` (the provider kind) only words the refusals."""
    body = camel(body)
    for name, value in body.items():
        if name not in _HANDLED and value not in (None, [], {}):
            raise refuse(name, target)
    request = ChatRequest(
        messages=_messages(body.get("contents"), target),
        system=_system(body.get("systemInstruction"), target),
        tools=_tools(body.get("tools"), target),
    )
    _config(camel(body.get("generationConfig")), request, target)
    _tool_config(camel(body.get("toolConfig")), request, target)
    return request


def _system(system: Any, target: str) -> str | None:
    if system is None:
        return None
    if isinstance(system, str):
        return system or None
    parts = system.get("parts") if isinstance(system, dict) else None
    parts = [camel(part) for part in parts] if isinstance(parts, list) else parts
    if not isinstance(parts, list):
        raise BadRequest("'systemInstruction.parts' must be an array", param="systemInstruction")
    texts = []
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise refuse(f"systemInstruction.parts[{i}]", target, "only text parts are supported")
        texts.append(part["text"])
    return "\n\n".join(texts) or None


def _messages(contents: Any, target: str) -> list[Message]:
    if not isinstance(contents, list) or not contents:
        raise BadRequest("'contents' must be a non-empty array", param="contents")
    calls = _CallIds()
    messages = []
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise BadRequest(f"'{where}.parts' must be an array", param=where)
        role = content.get("role") or "user"
        if role not in ("user", "model", "function"):
            raise BadRequest(f"'{where}.role' must be 'user' or 'model'", param=f"{where}.role")
        speaker: Literal["user", "assistant"] = "assistant" if role == "model" else "user"
        parts = [
            part
            for j, raw in enumerate(content["parts"])
            if (part := _part(raw, f"{where}.parts[{j}]", speaker, calls, target)) is not None
        ]
        messages.append(Message(speaker, parts))
    return messages


def _part(raw: Any, param: str, speaker: str, calls: _CallIds, target: str) -> Part | None:
    if not isinstance(raw, dict):
        raise BadRequest(f"'{param}' must be an object", param=param)
    raw = camel(raw)
    if raw.get("thought"):
        raise refuse(param, target, "thought parts cannot be sent to another vendor")
    if isinstance(raw.get("text"), str):
        return TextPart(raw["text"])
    inline = camel(raw.get("inlineData"))
    if isinstance(inline, dict):
        media_type = str(inline.get("mimeType") or "")
        if not media_type.startswith("image/"):
            raise refuse(f"{param}.inlineData", target, f"{media_type!r} is not an image")
        return ImagePart(param, media_type=media_type, data=inline.get("data"))
    call = raw.get("functionCall")
    if isinstance(call, dict) and speaker == "assistant":
        name = str(call.get("name"))
        arguments = orjson.dumps(call.get("args") or {}).decode()
        return ToolCall(calls.open(name, call.get("id")), name, arguments)
    answer = raw.get("functionResponse")
    if isinstance(answer, dict) and speaker == "user":
        name = str(answer.get("name"))
        text = orjson.dumps(answer.get("response") or {}).decode()
        return ToolResult(calls.answer(name, answer.get("id"), param), [TextPart(text)])
    kinds = [key for key in raw if key != "thoughtSignature"]
    raise refuse(param, target, f"a {speaker} part of type {kinds!r} is not supported")


class _CallIds:
    """Ids for Gemini's function calls, and which call each response answers."""

    def __init__(self) -> None:
        self.count = 0
        self.open_calls: list[tuple[str, str]] = []  # (name, id), oldest first

    def open(self, name: str, given: Any) -> str:
        call_id = given if isinstance(given, str) and given else f"call_{self.count}"
        self.count += 1
        self.open_calls.append((name, call_id))
        return call_id

    def answer(self, name: str, given: Any, param: str) -> str:
        for index, (open_name, call_id) in enumerate(self.open_calls):
            if (isinstance(given, str) and given == call_id) or (not given and open_name == name):
                del self.open_calls[index]
                return call_id
        raise BadRequest(
            f"'{param}.functionResponse' answers no earlier functionCall named {name!r}",
            param=param,
        )


def _tools(tools: Any, target: str) -> list[Tool]:
    out: list[Tool] = []
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict):
            raise BadRequest(f"'tools[{i}]' must be an object", param=f"tools[{i}]")
        tool = camel(tool)
        for key, value in tool.items():
            if key != "functionDeclarations" and value is not None:  # `{}` enables a tool
                raise refuse(f"tools[{i}].{key}", target, "only function declarations translate")
        for j, decl in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{i}].functionDeclarations[{j}]"
            decl = camel(decl)
            if not isinstance(decl, dict) or not isinstance(decl.get("name"), str):
                raise BadRequest(f"'{where}.name' is required", param=where)
            schema = decl.get("parametersJsonSchema")
            if schema is None and isinstance(decl.get("parameters"), dict):
                schema = json_schema(decl["parameters"])
            schema = schema or {"type": "object", "properties": {}}
            out.append(Tool(decl["name"], decl.get("description"), schema))
    return out


def _config(config: Any, request: ChatRequest, target: str) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise BadRequest("'generationConfig' must be an object", param="generationConfig")
    for key, value in config.items():
        where = f"generationConfig.{key}"
        if key in _CONFIG:
            setattr(request, _CONFIG[key], value)
        elif key == "stopSequences":
            request.stop = [s for s in value or [] if isinstance(s, str)]
        elif key in _SCHEMA_KEYS or (key == "thinkingConfig" and _thinking_off(value)):
            continue
        elif value is not None and value not in _CONFIG_DEFAULTS.get(key, ()):
            raise refuse(where, target)
    schema = next((config[k] for k in _SCHEMA_KEYS if isinstance(config.get(k), dict)), None)
    if config.get("responseMimeType") == "application/json":
        if schema is None:
            request.response_format = ResponseFormat("json_object")
        else:
            plain = schema if "responseJsonSchema" in config else json_schema(schema)
            request.response_format = ResponseFormat("json_schema", plain)
    elif schema is not None:
        raise refuse("generationConfig.responseSchema", target, "set responseMimeType too")


def _thinking_off(value: Any) -> bool:
    return isinstance(value, dict) and value.get("thinkingBudget") in (0, None)


def _tool_config(config: Any, request: ChatRequest, target: str) -> None:
    calling = camel(config.get("functionCallingConfig")) if isinstance(config, dict) else None
    if not isinstance(calling, dict):
        return
    mode = _MODES.get(str(calling.get("mode") or "AUTO").upper())
    if mode is None:
        raise refuse("toolConfig.functionCallingConfig.mode", target)
    allowed = calling.get("allowedFunctionNames") or []
    if len(allowed) > 1:
        raise refuse("toolConfig.functionCallingConfig.allowedFunctionNames", target,
                     "only one allowed function can be forced")  # fmt: skip
    if allowed and mode == "required":
        request.tool_choice = ToolChoice("tool", str(allowed[0]))
    else:
        request.tool_choice = ToolChoice(mode)  # type: ignore[arg-type]


def json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-style `Schema` (upper-case types, `nullable`) as plain JSON Schema."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "prefixItems"):
            out[key] = json_schema(value)
        elif key not in ("nullable", "propertyOrdering"):
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
