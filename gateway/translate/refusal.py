"""The one error for a field that has no equivalent in the target API: a 400 naming it."""

from __future__ import annotations

from gateway.errors import BadRequest

_API_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Gemini"}


def refuse(field: str, target: str, why: str = "") -> BadRequest:
    """A 400 for a field the `target` provider kind has no equivalent for."""
    reason = f" ({why})" if why else ""
    api = _API_NAMES.get(target, target)
    return BadRequest(f"'{field}' cannot be translated to the {api} API{reason}", param=field)
