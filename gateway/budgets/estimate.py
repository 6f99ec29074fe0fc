"""The most a call can cost and how many tokens it counts against `tpm`, from its request alone.

No tokenizer on the request path: a call's prompt is bounded by the bytes of its body (a token
is never shorter than one byte of text, and the JSON around each message outweighs the few
tokens a provider adds per message), and estimated at 4 bytes a token for `tpm` (OpenAI's own
rate-limit estimate). The output is the request's own maximum (`max_tokens`,
`max_completion_tokens`, `max_output_tokens`, Gemini's `maxOutputTokens`), times its `n`, capped
by the model's maximum output, which is also what a request without one reserves. Money is in
integer pico-USD (the ledger's precision), rounded up, so a reservation is never below the bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from typing import Any

import orjson

from gateway.config import ModelConfig, Price
from gateway.ledger.limits import max_output_tokens

PICO_PER_USD = 10**12
BYTES_PER_TOKEN = 4  # the tpm estimate of a prompt
NO_OUTPUT = frozenset({"embeddings", "gemini_embed", "gemini_batch_embed"})
_OUTPUT_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
_GEMINI_CONFIG = ("generationConfig", "generation_config")
_GEMINI_OUTPUT = ("maxOutputTokens", "max_output_tokens")
_CHOICES = ("n", "best_of")
_GEMINI_CHOICES = ("candidateCount", "candidate_count")


@dataclass(frozen=True, slots=True)
class Estimate:
    usd: int  # pico-USD: the most the call can be billed
    tokens: int  # what it counts against `tpm`: estimated prompt + maximum output


def pico(amount: Decimal) -> int:
    """USD as integer pico-USD, rounded up."""
    return int(amount.scaleb(12).to_integral_value(ROUND_CEILING))


def usd(amount: int) -> Decimal:
    """Integer pico-USD as USD."""
    return Decimal(amount).scaleb(-12)


@lru_cache(maxsize=1024)
def _token_prices(price: Price) -> tuple[int, int]:
    """Pico-USD per prompt token (the dearest of input, cache read and cache write) and per
    output token, each rounded up."""
    dearest = max(Decimal(str(p)) for p in (price.input, price.cache_read or 0,
                                            price.cache_write or 0))
    return pico(dearest / 10**6), pico(Decimal(str(price.output)) / 10**6)


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def requested_output(body: dict[str, Any]) -> int | None:
    """The output tokens a request asks for at most, in any API's spelling."""
    for key in _OUTPUT_KEYS:
        found = _positive_int(body.get(key))
        if found is not None:
            return found
    for name in _GEMINI_CONFIG:
        config = body.get(name)
        if isinstance(config, dict):
            for key in _GEMINI_OUTPUT:
                found = _positive_int(config.get(key))
                if found is not None:
                    return found
    return None


def _choices(body: dict[str, Any]) -> int:
    if not any(key in body for key in (*_CHOICES, *_GEMINI_CONFIG)):
        return 1
    counts = [_positive_int(body.get(key)) or 1 for key in _CHOICES]
    for name in _GEMINI_CONFIG:
        config = body.get(name)
        if isinstance(config, dict):
            counts += [_positive_int(config.get(key)) or 1 for key in _GEMINI_CHOICES]
    return max(counts)


def maximum_output(model: ModelConfig, route: str, body: dict[str, Any]) -> int:
    """The most output tokens the call can be billed: its own maximum (plus the one token a
    `generated` bill may add after an abort) times its choices, within the model's maximum."""
    if route in NO_OUTPUT:
        return 0
    cap = max_output_tokens(model)
    requested = requested_output(body)
    each = cap if requested is None else min(requested + 1, cap)
    return each * _choices(body)


def estimate(
    model: ModelConfig, route: str, body: dict[str, Any], discount: float = 0.0
) -> Estimate:
    """The reservation of a call: its maximum cost (less the batch lane's `discount`) and its
    `tpm` tokens."""
    size = len(orjson.dumps(body))
    output = maximum_output(model, route, body)
    per_prompt, per_output = _token_prices(model.price)
    cost = size * per_prompt + output * per_output
    if discount:
        # The ledger rounds the full cost and the savings separately: one pico-USD of slack.
        cost = pico(usd(cost) * (1 - Decimal(str(discount)))) + 1
    return Estimate(cost, -(-size // BYTES_PER_TOKEN) + output)
