"""How many output tokens a model can produce at most: the ceiling of every estimated bill.

A model's `max_output_tokens` setting wins; without it the upstream model's family decides
(first matching pattern below), and an unknown model gets a conservative fallback. Token
counts from any source are clamped to [0, MAX_TOKENS], so no count can overflow a column.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import lru_cache

from gateway.config import ModelConfig

FALLBACK_MAX_OUTPUT = 32768
SIM_MAX_OUTPUT = 4096  # the built-in simulator's models
MAX_TOKENS = 2**53  # beyond any real count; keeps sums exact in 64-bit columns and JSON

# (pattern on the upstream name, lowercased and without any `vendor/` prefix, max output)
FAMILIES: tuple[tuple[str, int], ...] = (
    ("sim-*", SIM_MAX_OUTPUT),
    ("gpt-4o*", 16384),
    ("chatgpt-4o*", 16384),
    ("gpt-4.1*", 32768),
    ("gpt-5*", 128000),
    ("o1*", 100000),
    ("o3*", 100000),
    ("o4*", 100000),
    ("gpt-4-turbo*", 4096),
    ("gpt-4-*", 8192),
    ("gpt-4", 8192),
    ("gpt-3.5*", 4096),
    ("claude-*-4-5*", 64000),
    ("claude-sonnet-4*", 64000),
    ("claude-3-7*", 64000),
    ("claude-opus-4*", 32000),
    ("claude-3-5*", 8192),
    ("claude-3-*", 4096),
    ("gemini-2.5*", 65536),
    ("gemini-2.0*", 8192),
    ("gemini-1.5*", 8192),
)


@lru_cache(maxsize=256)
def family_max_output(upstream_model: str) -> int:
    """The known maximum output of an upstream model name's family, else the fallback."""
    name = upstream_model.rsplit("/", 1)[-1].lower()
    for pattern, limit in FAMILIES:
        if fnmatchcase(name, pattern):
            return limit
    return FALLBACK_MAX_OUTPUT


def max_output_tokens(model: ModelConfig) -> int:
    """The configured ceiling of `model`, or its family's."""
    if model.max_output_tokens is not None:
        return model.max_output_tokens
    return family_max_output(model.upstream_name)


def clamp(count: int) -> int:
    """A token count as the ledger may store it: never negative, never absurd."""
    return 0 if count < 0 else min(count, MAX_TOKENS)
