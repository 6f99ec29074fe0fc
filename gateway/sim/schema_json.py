"""A JSON value that validates against a JSON Schema: structured outputs and tool arguments.

Deterministic for a seed. Covers the subset SDKs generate from pydantic models and what
vendors accept: `type` (a name or a list; Gemini's upper-case names too), `properties`,
`required`, `additionalProperties`, `items`, `minItems`/`maxItems`, `enum`, `const`,
`anyOf`/`oneOf`, `allOf`, `$ref` into `$defs`/`definitions`, `nullable`, string `format`
and length limits, number bounds. Optional properties are filled in too; past a nesting depth
only what is required is, and a nullable or optional branch ends recursion.
"""

from __future__ import annotations

from typing import Any

SAMPLE_STRINGS = ("San Francisco", "Paris", "Tokyo", "Berlin", "Lima", "Nairobi", "Oslo")
FORMATS = {
    "date-time": "2026-01-01T12:00:00Z",
    "date": "2026-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
DEEP = 4  # from this depth on, only required properties and minimal arrays
TYPE_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")


def instance(schema: Any, seed: int = 0) -> Any:
    """A value valid under `schema` (a schema of `True`/`{}` accepts anything: a string)."""
    return _Builder(schema, seed).value(schema, 0, 0)


class _Builder:
    def __init__(self, root: Any, seed: int) -> None:
        self.root = root if isinstance(root, dict) else {}
        self.seed = seed

    def value(self, schema: Any, depth: int, position: int) -> Any:
        if not isinstance(schema, dict):
            return SAMPLE_STRINGS[(position + self.seed) % len(SAMPLE_STRINGS)]
        if "$ref" in schema:
            return self.value(self._resolve(schema["$ref"]), depth + 1, position)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[self.seed % len(enum)]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self.value(self._pick(options, depth), depth + 1, position)
        if isinstance(schema.get("allOf"), list):
            return self.value(_merge(schema), depth + 1, position)
        kind = self._type(schema, depth)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "integer":
            return int(_bounded(schema, 1 + (self.seed + position) % 10, integer=True))
        if kind == "number":
            return float(_bounded(schema, 1.5 + (self.seed + position) % 10, integer=False))
        if kind == "boolean":
            return (self.seed + position) % 2 == 0
        if kind == "null":
            return None
        return self._string(schema, position)

    def _type(self, schema: dict[str, Any], depth: int) -> str:
        declared = schema.get("type")
        names = declared if isinstance(declared, list) else [declared] if declared else []
        names = [str(n).lower() for n in names]
        if schema.get("nullable") is True and depth >= DEEP:
            return "null"
        concrete = [n for n in names if n != "null"]
        if concrete:
            if depth >= DEEP and "null" in names:
                return "null"
            return min(concrete, key=lambda n: TYPE_ORDER.index(n) if n in TYPE_ORDER else 99)
        if names:
            return "null"
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "string"

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        required = schema.get("required")
        wanted = set(required) if isinstance(required, list) else set(properties)
        out: dict[str, Any] = {}
        for position, (name, sub) in enumerate(properties.items()):
            if depth >= DEEP and name not in wanted:
                continue
            out[name] = self.value(sub, depth + 1, position)
        return out

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = schema.get("minItems")
        low = low if isinstance(low, int) else 0
        high = schema.get("maxItems")
        count = low if depth >= DEEP else max(low, 2)
        if isinstance(high, int):
            count = min(count, high)
        items = schema.get("items", {})
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and prefix:
            return [self.value(sub, depth + 1, i) for i, sub in enumerate(prefix)]
        return [self.value(items, depth + 1, i) for i in range(count)]

    def _string(self, schema: dict[str, Any], position: int) -> str:
        text = FORMATS.get(str(schema.get("format")))
        if text is None:
            text = SAMPLE_STRINGS[(position + self.seed) % len(SAMPLE_STRINGS)]
        low = schema.get("minLength")
        high = schema.get("maxLength")
        if isinstance(low, int) and len(text) < low:
            text = text + "x" * (low - len(text))
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        return text

    def _pick(self, options: list[Any], depth: int) -> Any:
        """A non-null branch (the informative one), or null once deep enough to stop."""
        nulls = [o for o in options if isinstance(o, dict) and o.get("type") == "null"]
        others = [o for o in options if o not in nulls]
        if nulls and (depth >= DEEP or not others):
            return nulls[0]
        return others[0] if others else options[0]

    def _resolve(self, ref: Any) -> Any:
        """`#/$defs/Name`, `#/definitions/Name` or any `#/a/b` pointer into the root schema."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            return {}
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}


def _merge(schema: dict[str, Any]) -> dict[str, Any]:
    """`allOf` flattened into one schema (properties and required lists combined)."""
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged.setdefault("properties", {}).update(value)
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _bounded(schema: dict[str, Any], value: float, *, integer: bool) -> float:
    step = 1 if integer else 0.5
    low, high = schema.get("minimum"), schema.get("maximum")
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(exclusive_low, int | float) and not isinstance(exclusive_low, bool):
        low = exclusive_low + step if low is None else max(low, exclusive_low + step)
    if isinstance(exclusive_high, int | float) and not isinstance(exclusive_high, bool):
        high = exclusive_high - step if high is None else min(high, exclusive_high - step)
    if isinstance(low, int | float) and value < low:
        value = low
    if isinstance(high, int | float) and value > high:
        value = high
    return value
