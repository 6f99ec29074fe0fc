"""Text inside request message content, whatever the API's content shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAX_NESTING = 16  # tool results inside tool results: deeper content is not text anyone sent


def texts(content: Any, depth: int = 0) -> Iterator[str]:
    """Every text in a message content: a string, text parts, or nested tool-result content
    (at most MAX_NESTING levels down, so no body can exhaust the stack of whoever counts)."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list) and depth < MAX_NESTING:
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    yield text
                nested = part.get("content")
                if nested is not None:
                    yield from texts(nested, depth + 1)
