"""The generated vocabulary: words that are one token each in cl100k_base and o200k_base."""

from __future__ import annotations

from functools import lru_cache

import orjson

WORDS: tuple[str, ...] = (
    "the", "model", "is", "here", "to", "help", "you", "with", "that", "and",
    "more", "time", "people", "work", "on", "this", "new", "world", "every", "day",
    "we", "make", "good", "things", "for", "our", "city", "water", "light", "house",
    "school", "about", "small", "large", "great", "first", "place", "where", "life", "will",
    "find", "its", "way", "back", "home", "after", "long", "story", "night", "again",
)  # fmt: skip

TOKENS: tuple[str, ...] = tuple(" " + word for word in WORDS)
TOKENS_JSON: tuple[bytes, ...] = tuple(orjson.dumps(token) for token in TOKENS)


def token(index: int) -> str:
    """The text of output token `index`."""
    return TOKENS[index % len(TOKENS)]


def token_json(index: int) -> bytes:
    """Output token `index` as a JSON string literal."""
    return TOKENS_JSON[index % len(TOKENS_JSON)]


@lru_cache(maxsize=256)
def text_of(count: int) -> str:
    """The whole output text of `count` tokens."""
    return "".join(token(i) for i in range(count))
