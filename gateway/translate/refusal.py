"""The errors of a translated request's fields: no equivalent in the target API, or a value of
the wrong type; both a 400 naming the field."""

from __future__ import annotations

from typing import Any

from gateway.errors import BadRequest

_API_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Gemini"}


def refuse(field: str, target: str, why: str = "") -> BadRequest:
    """A 400 for a field the `target` provider kind has no equivalent for."""
    reason = f" ({why})" if why else ""
    api = _API_NAMES.get(target, target)
    return BadRequest(f"'{field}' cannot be translated to the {api} API{reason}", param=field)


def typed(value: Any, kinds: type | tuple[type, ...], field: str, expected: str) -> Any:
    """`value` if it is absent (None) or of `kinds` (a bool is no number), else a 400."""
    if value is None or (isinstance(value, kinds) and not (
        isinstance(value, bool) and kinds is not bool
    )):
        return value
    raise BadRequest(f"'{field}' must be {expected}, got {type(value).__name__}", param=field)


def strings(values: list[Any], field: str) -> list[str]:
    """`values` if every item is a string, else a 400 naming the first that is not."""
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise BadRequest(f"'{field}[{i}]' must be a string", param=f"{field}[{i}]")
    return values
