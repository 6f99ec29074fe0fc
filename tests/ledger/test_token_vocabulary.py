"""The compact vocabulary (gateway._bpe): loading "base64token rank" lines, refusing bad ones,
and what a loaded encoding costs in memory (measured in a fresh process)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
import tiktoken

from gateway import _bpe
from tests import tiktoken_reference

# A tiny vocabulary: every byte, then merges in the order BPE training would have made them.
MERGES = [b"he", b"ll", b"hell", b"hello", b" w", b"or", b" wor", b"ld", b" world", b"'s", b"aa",
          b"aaa", b"aaaa", b"\xc3\xa9"]
RANKS = {bytes([b]): b for b in range(256)} | {m: 256 + k for k, m in enumerate(MERGES)}


def lines(ranks: dict[bytes, int]) -> bytes:
    return b"".join(base64.b64encode(token) + b" %d\n" % rank for token, rank in ranks.items())


def load_in_lines(data: bytes, encoding: str = "cl100k_base") -> _bpe.Vocabulary:
    tokens, size = _bpe.measure(data)
    vocabulary = _bpe.Vocabulary(tokens, size, encoding)
    for line in data.splitlines(keepends=True):
        vocabulary.load(line)
    return vocabulary


def test_measure_counts_tokens_and_their_bytes() -> None:
    assert _bpe.measure(lines(RANKS)) == (len(RANKS), sum(len(t) for t in RANKS))
    assert _bpe.measure(b"") == (0, 0)
    assert _bpe.measure(b"aGVsbG8= 7\r\nIQ== 8") == (2, 6)  # CRLF, no final newline


@pytest.mark.parametrize("pattern", ["cl100k_base", "o200k_base"])
def test_a_small_vocabulary_counts_as_tiktoken_does(pattern: str) -> None:
    vocabulary = load_in_lines(lines(RANKS), pattern)
    assert vocabulary.tokens == len(RANKS)
    assert vocabulary.memory >= sum(len(t) for t in RANKS)
    reference = tiktoken.Encoding(
        name=f"tiny-{pattern}",
        pat_str=tiktoken_reference.encoding(pattern)._pat_str,  # the real pattern
        mergeable_ranks=RANKS,
        special_tokens={},
    )
    for text in ("hello world", "hello worlds's", "aaaaaaaaa", "é" * 300, "a" * 1000,
                 "héllo wörld\n\n  hello", "", "x"):
        assert vocabulary.count(text) == len(reference.encode_ordinary(text)), text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"aGVsbG8=\n", "not a"),  # no rank
        (b"aGVsbG8= x\n", "not a"),  # rank not a number
        (b"aGVsb!8= 0\n", "not a"),  # not base64
        (b"aGVsbG8 0\n", "not a"),  # not a multiple of 4
        (b" 0\n", "not a"),  # empty token
    ],
)
def test_malformed_lines_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _bpe.measure(data)


def test_ranks_must_come_in_order_once_each() -> None:
    vocabulary = _bpe.Vocabulary(2, 2, "cl100k_base")
    with pytest.raises(ValueError, match="rank 1 where 0 was due"):
        vocabulary.load(b"YQ== 1\n")
    vocabulary.load(b"YQ== 0\n")
    with pytest.raises(ValueError, match="appears twice"):
        vocabulary.load(b"YQ== 1\n")
    vocabulary.load(b"Yg== 1\n")
    with pytest.raises(ValueError, match="more tokens than measured"):
        vocabulary.load(b"Yw== 2\n")
    assert vocabulary.count("ab") == 2


def test_counting_needs_the_whole_vocabulary() -> None:
    vocabulary = _bpe.Vocabulary(2, 2, "o200k_base")
    vocabulary.load(b"YQ== 0\n")
    with pytest.raises(RuntimeError, match="not fully loaded"):
        vocabulary.count("a")
    with pytest.raises(TypeError):
        vocabulary.count(b"a")  # type: ignore[arg-type]


def test_only_the_two_patterns_are_known() -> None:
    with pytest.raises(ValueError, match="no pre-tokenizer"):
        _bpe.Vocabulary(1, 1, "p50k_base")
    with pytest.raises(ValueError, match="out of range"):
        _bpe.Vocabulary(0, 0, "o200k_base")


MEASURE = """
import json, sys
from gateway import tokens

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}

try:
    open("/proc/self/clear_refs", "w").write("5")  # the peak from here on
except OSError:
    pass
before = status()
tokens.count("hello world", sys.argv[1])
after = status()
print(json.dumps({"before": before["VmRSS"], "after": after["VmRSS"], "peak": after["VmHWM"]}))
"""


@pytest.mark.parametrize(("model", "limit_mb"), [("gpt-4o", 10), ("gpt-4", 10)])
def test_a_loaded_encoding_costs_a_few_megabytes(model: str, limit_mb: float) -> None:
    result = subprocess.run([sys.executable, "-c", MEASURE, model], capture_output=True,
                            text=True, timeout=60, check=True)
    rss = json.loads(result.stdout)
    print(f"{model}: RSS {rss['before']:.1f} -> {rss['after']:.1f} MB, peak {rss['peak']:.1f} MB")
    assert rss["after"] - rss["before"] < limit_mb, rss
    assert rss["peak"] - rss["before"] < limit_mb, rss
