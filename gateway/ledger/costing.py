"""Metering: a finished `Call` becomes one ledger row with its tokens and cost.

Tokens come from the provider's usage when it arrived (`token_source = usage`); otherwise they
are counted with the model's tokenizer over the prompt and the delivered text (`counted`). A
cancelled call's bill follows the provider's `cancel_billing`; a bill the gateway had to guess
is `estimated`. Failed calls are billed only for what was delivered (nothing, usually).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import tokens
from gateway.calls import Call
from gateway.ledger.prompts import prompt_tokens

MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Tokens:
    prompt: int
    delivered: int  # completion tokens the client received
    billed: int  # completion tokens the provider bills
    source: str  # usage | counted | estimated


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
    if call.status == "cancelled":
        return _cancelled_tokens(call, model, billing_after_cancel)
    if call.status == "failed" and not meter.delivered and not meter.has_usage:
        return Tokens(0, 0, 0, "counted")  # refused before generating: nothing is billed
    from_usage = meter.prompt_tokens is not None
    prompt = meter.prompt_tokens
    if prompt is None:
        prompt = prompt_tokens(call.request_body, model)
    completion = meter.completion_tokens
    if completion is None:
        from_usage = from_usage and not meter.delivered  # embeddings report no completion
        completion = tokens.count(meter.delivered_text, model)
    return Tokens(prompt, completion, completion, "usage" if from_usage else "counted")


def _cancelled_tokens(call: Call, model: str, policy: str) -> Tokens:
    meter = call.meter
    delivered = tokens.count(meter.delivered_text, model)
    prompt = meter.prompt_tokens
    if prompt is None:
        prompt = prompt_tokens(call.request_body, model)
    if meter.completion_tokens is not None:  # `drain` read the provider's own bill
        source = "usage" if meter.prompt_tokens is not None else "counted"
        return Tokens(prompt, delivered, meter.completion_tokens, source)
    if policy == "generated" and meter.upstream_sent_at is not None:
        # The upstream notices the abort within a token (the SPEC's abort budget).
        return Tokens(prompt, delivered, delivered + 1, "estimated")
    if policy == "full":
        max_tokens = _max_tokens(call.request_body)
        if max_tokens is not None and max_tokens > delivered:
            return Tokens(prompt, delivered, max_tokens, "estimated")
    return Tokens(prompt, delivered, delivered, "counted")


def _max_tokens(body: dict[str, Any] | None) -> int | None:
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = (body or {}).get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def row_for(
    call: Call, billing_after_cancel: str = "delivered", counted: Tokens | None = None
) -> dict[str, Any]:
    """The ledger row of a finished call (pure: reads the call, touches nothing else)."""
    meter = call.meter
    if counted is None:
        counted = meter_tokens(call, billing_after_cancel)
    price = call.model.price
    full_cost = (counted.prompt * price.input + counted.billed * price.output) / MILLION
    savings = full_cost * call.model.batch_discount if call.mode == "batch" else 0.0
    cost = full_cost - savings
    finished = call.finished_at
    ttft = None if meter.first_token_at is None else meter.first_token_at - meter.started
    duration = None if finished is None else (finished - call.created_at).total_seconds()
    return {
        "id": call.id,
        "workload": call.identity.workload,
        "model": call.model.name,
        "provider": call.provider,
        "route": call.route,
        "mode": call.mode,
        "status": call.status,
        "http_status": call.http_status,
        "prompt_tokens": counted.prompt,
        "completion_tokens": counted.delivered,
        "billed_completion_tokens": counted.billed,
        "token_source": counted.source,
        "price_input": price.input,
        "price_output": price.output,
        "cost_usd": cost,
        "cancelled_cost_usd": cost if call.status == "cancelled" else 0.0,
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
