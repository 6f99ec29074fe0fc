"""Text inside request message content, whatever the API's content shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def texts(content: Any) -> Iterator[str]:
    """Every text in a message content: a string, text parts, or nested tool-result content."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    yield text
                nested = part.get("content")
                if nested is not None:
                    yield from texts(nested)
