"""A JSON value that matches a JSON schema: the simulator's answer to structured output requests.

Deterministic and small: every property of an object (required or not), one item per array,
the first `enum`/`const` value, a number inside its bounds. `$ref` to `#/$defs/...` or
`#/definitions/...` is followed; `anyOf`/`oneOf` take the first non-null branch.
"""

from __future__ import annotations

from typing import Any

from gateway.sim.words import token

MAX_DEPTH = 12


def value_for(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A value valid against `schema` (`root` holds the definitions `$ref` points into)."""
    if root is None:
        root = schema
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    if "$ref" in schema:
        return value_for(_resolve(root, schema["$ref"]), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            branch = next((b for b in branches if not _is_null(b)), branches[0])
            return value_for(branch, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return _typed(kind, schema, root, depth)


def _typed(kind: str, schema: dict[str, Any], root: Any, depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: value_for(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [value_for(schema.get("items") or {}, root, depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
    if kind == "number":
        return float(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = token(depth).strip()
    while len(text) < int(schema.get("minLength", 0)):
        text += text
    return text


def _resolve(root: Any, ref: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return {}
    node = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node or {}


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"
