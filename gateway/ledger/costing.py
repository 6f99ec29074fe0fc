"""Metering: a finished `Call` becomes one ledger row with its tokens and cost.

Tokens come from the provider's usage when it arrived (`token_source = usage`); otherwise they
are counted with the model's tokenizer over the prompt and the delivered text (`counted`). A
cancelled call's bill follows the provider's `cancel_billing`, capped by the model's maximum
output (`gateway.ledger.limits`); a bill the gateway had to guess is `estimated`. Failed calls
are billed only for what was delivered (nothing, usually).

Money is exact: Decimal from the prices' decimal text, rounded once to the ledger's 12 places.
Cached input (read from or written to the provider's prompt cache) is part of the prompt and is
priced at the model's cache prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from gateway import tokens
from gateway.calls import Call
from gateway.config import Price
from gateway.ledger.limits import clamp, max_output_tokens
from gateway.ledger.models import EXACT, as_decimal, to_pico
from gateway.ledger.prompts import prompt_tokens

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tokens:
    prompt: int  # all input, cached included
    delivered: int  # completion tokens the client received
    billed: int  # completion tokens the provider bills
    source: str  # usage | counted | estimated
    cache_read: int = 0  # of the prompt, read from the provider's cache
    cache_write: int = 0  # of the prompt, written to it


def needs_tokenizer(call: Call) -> bool:
    """Whether costing this call will run the tokenizer (so it belongs off the event loop)."""
    meter = call.meter
    if call.status == "cancelled":
        return True
    if call.status == "failed" and not meter.delivered and not meter.has_usage:
        return False
    if meter.prompt_tokens is None:
        return True
    return meter.completion_tokens is None and bool(meter.delivered)


def meter_tokens(call: Call, billing_after_cancel: str = "delivered") -> Tokens:
    """Prompt, delivered and billed completion tokens of a call, and where they came from."""
    meter = call.meter
    model = call.model.upstream_name
    if call.mode == "batch" and call.status == "cancelled" and not meter.has_usage:
        return Tokens(0, 0, 0, "counted")  # a deferred call cancelled before it ran
    if call.status == "failed" and not meter.delivered and not meter.has_usage:
        return Tokens(0, 0, 0, "counted")  # refused before generating: nothing is billed
    if call.status == "cancelled":
        counted = _cancelled_tokens(call, model, billing_after_cancel)
    else:
        counted = _finished_tokens(call, model)
    return _clamped(counted)


def _finished_tokens(call: Call, model: str) -> Tokens:
    meter = call.meter
    from_usage = meter.prompt_tokens is not None
    prompt = _prompt(call, model)
    completion = meter.completion_tokens
    if completion is None:
        from_usage = from_usage and not meter.delivered  # embeddings report no completion
        completion = tokens.count(meter.delivered_text, model)
    return _with_cache(call, Tokens(prompt, completion, completion, _source(from_usage)))


def _cancelled_tokens(call: Call, model: str, policy: str) -> Tokens:
    meter = call.meter
    delivered = tokens.count(meter.delivered_text, model)
    prompt = _prompt(call, model)
    if meter.done and meter.completion_tokens is not None:
        # The stream reached its end (`drain`): the provider's usage is its final bill. A
        # usage seen mid-stream (Gemini repeats a running count on every chunk) is not.
        source = _source(meter.prompt_tokens is not None)
        return _with_cache(call, Tokens(prompt, delivered, meter.completion_tokens, source))
    cap = max_output_tokens(call.model)
    estimate: int | None = None
    if policy == "generated" and meter.upstream_sent_at is not None:
        # The upstream notices the abort within a token (the SPEC's abort budget).
        estimate = min(delivered + 1, cap)
    elif policy == "full":
        requested = _max_tokens(call.request_body)
        estimate = cap if requested is None else min(requested, cap)
    if estimate is not None and estimate > delivered:
        return _with_cache(call, Tokens(prompt, delivered, estimate, "estimated"))
    return _with_cache(call, Tokens(prompt, delivered, delivered, "counted"))


def _prompt(call: Call, model: str) -> int:
    if call.meter.prompt_tokens is not None:
        return call.meter.prompt_tokens
    return prompt_tokens(call.request_body, model)


def _with_cache(call: Call, counted: Tokens) -> Tokens:
    """The cached part of a prompt the provider reported (a counted prompt has none known)."""
    meter = call.meter
    if meter.prompt_tokens is None:
        return counted
    read, write = meter.cache_read_tokens or 0, meter.cache_write_tokens or 0
    return Tokens(counted.prompt, counted.delivered, counted.billed, counted.source, read, write)


def _source(from_usage: bool) -> str:
    return "usage" if from_usage else "counted"


def _clamped(counted: Tokens) -> Tokens:
    return Tokens(
        clamp(counted.prompt),
        clamp(counted.delivered),
        clamp(counted.billed),
        counted.source,
        clamp(counted.cache_read),
        clamp(counted.cache_write),
    )


def _max_tokens(body: dict[str, Any] | None) -> int | None:
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = (body or {}).get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


_PRICES: dict[int, tuple[Price, Prices]] = {}


@dataclass(frozen=True, slots=True)
class Prices:
    """A model's prices as exact Decimals (USD per million tokens)."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal

    @classmethod
    def of(cls, price: Price) -> Prices:
        """Unset cache prices (a `Price` never resolved by a provider kind) cost as input.
        Settings are immutable: each `Price` is converted once."""
        known = _PRICES.get(id(price))
        if known is not None and known[0] is price:
            return known[1]
        prices = cls._convert(price)
        if len(_PRICES) > 4096:  # settings reloaded many times over: start afresh
            _PRICES.clear()
        _PRICES[id(price)] = (price, prices)
        return prices

    @classmethod
    def _convert(cls, price: Price) -> Prices:
        base = as_decimal(price.input)
        read, write = price.cache_read, price.cache_write
        return cls(
            base,
            as_decimal(price.output),
            base if read is None else as_decimal(read),
            base if write is None else as_decimal(write),
        )

    def cost(self, counted: Tokens) -> Decimal:
        """Exact USD of a bill: uncached input, cache reads, cache writes and output."""
        uncached = max(0, counted.prompt - counted.cache_read - counted.cache_write)
        with localcontext(EXACT):
            total = (
                uncached * self.input
                + counted.cache_read * self.cache_read
                + counted.cache_write * self.cache_write
                + counted.billed * self.output
            )
            return to_pico(total / MILLION)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def row_for(
    call: Call, billing_after_cancel: str = "delivered", counted: Tokens | None = None
) -> dict[str, Any]:
    """The ledger row of a finished call (pure: reads the call, touches nothing else)."""
    meter = call.meter
    if counted is None:
        counted = meter_tokens(call, billing_after_cancel)
    prices = Prices.of(call.model.price)
    full_cost = prices.cost(counted)
    savings = ZERO
    if call.mode == "batch":
        with localcontext(EXACT):
            savings = to_pico(full_cost * as_decimal(call.model.batch_discount))
    cost = full_cost - savings
    finished = call.finished_at
    ttft = None if meter.first_token_at is None else meter.first_token_at - meter.started
    duration = None if finished is None else (finished - call.created_at).total_seconds()
    return {
        "id": call.id,
        "workload": call.identity.workload,
        "model": call.model.name,
        "provider": call.provider,
        "upstream_model": call.model.upstream_name,
        "route": call.route,
        "mode": call.mode,
        "status": call.status,
        "http_status": call.http_status,
        "prompt_tokens": counted.prompt,
        "completion_tokens": counted.delivered,
        "billed_completion_tokens": counted.billed,
        "cached_prompt_tokens": counted.cache_read,
        "cache_write_tokens": counted.cache_write,
        "token_source": counted.source,
        "price_input": prices.input,
        "price_output": prices.output,
        "price_cache_read": prices.cache_read,
        "price_cache_write": prices.cache_write,
        "cost_usd": cost,
        "cancelled_cost_usd": cost if call.status == "cancelled" else ZERO,
        "batch_savings_usd": savings,
        "ttft_ms": _ms(ttft),
        "duration_ms": _ms(duration),
        "abort_latency_ms": _ms(call.abort_seconds),
        "cancel_reason": call.cancel_reason,
        "error": call.error and call.error.replace("\x00", ""),  # an upstream's text: no NUL
        "key_id": call.identity.key_id,
        "created_at": call.created_at,
        "finished_at": finished,
        "response": None,
    }
