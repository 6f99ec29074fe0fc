"""Structured answers: the JSON a request's schema asks for, cut into token-sized pieces.

OpenAI `response_format` (`json_object`, `json_schema`), Anthropic `output_config.format`
(`json_schema`) and Gemini `generationConfig` (`responseMimeType: application/json` with
`responseJsonSchema` or `responseSchema`). A request with none of them gets prose.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.sim.schema_json import instance

ANY_OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}
PIECE = 4  # characters per streamed piece (about a token of JSON)


def openai_schema(response_format: Any) -> dict[str, Any] | None:
    """The schema of a chat `response_format`, `ANY_OBJECT` for `json_object`."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return ANY_OBJECT
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else ANY_OBJECT
    return None


def anthropic_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of `output_config.format` (or the beta's top-level `output_format`)."""
    config = body.get("output_config")
    spec = config.get("format") if isinstance(config, dict) else body.get("output_format")
    if isinstance(spec, dict) and spec.get("type") == "json_schema":
        schema = spec.get("schema")
        return schema if isinstance(schema, dict) else ANY_OBJECT
    return None


def gemini_schema(config: Any) -> dict[str, Any] | None:
    """The schema of a JSON `generationConfig`, `ANY_OBJECT` when it names none."""
    if not isinstance(config, dict):
        return None
    for key in ("responseJsonSchema", "response_json_schema", "responseSchema", "response_schema"):
        if isinstance(config.get(key), dict):
            return config[key]
    mime = config.get("responseMimeType") or config.get("response_mime_type")
    return ANY_OBJECT if mime == "application/json" else None


def pieces(schema: dict[str, Any], seed: int) -> tuple[str, ...]:
    """The JSON text of a value valid under `schema`, in pieces of about a token."""
    text = orjson.dumps(instance(schema, seed)).decode()
    return tuple(text[i : i + PIECE] for i in range(0, len(text), PIECE)) or ("{}",)
