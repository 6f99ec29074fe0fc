"""What a call is billed: estimates capped by the model's maximum output, cached input at its
own prices, exact money (pure costing, no database)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.config import Settings, build_settings
from gateway.ledger import limits
from gateway.ledger.costing import meter_tokens, row_for
from gateway.ledger.prompts import prompt_tokens
from gateway.sim.words import token
from tests.ledger.helpers import MESSAGES, make_call, make_meter, settings

SETTINGS = settings("sqlite+aiosqlite:///:memory:")
WORDS = [token(i) for i in range(50)]
PROMPT = prompt_tokens({"messages": MESSAGES}, "gpt-4o-mini")
GPT_4O_MINI_MAX = 16384


def cancelled(
    max_tokens: Any = None,
    *,
    delivered: int = 3,
    s: Settings = SETTINGS,
    model: str = "gpt-4o-mini",
) -> Any:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return make_call(
        s, model=model, status="cancelled", meter=make_meter(WORDS[:delivered]), body=body
    )


@pytest.mark.parametrize(
    ("requested", "billed"),
    [(2**62, GPT_4O_MINI_MAX), (2**40, GPT_4O_MINI_MAX), (300, 300), (None, GPT_4O_MINI_MAX)],
)
def test_full_billing_is_capped_by_the_models_max_output(requested: Any, billed: int) -> None:
    row = row_for(cancelled(requested), "full")
    assert (row["completion_tokens"], row["billed_completion_tokens"]) == (3, billed)
    assert row["token_source"] == "estimated"
    # gpt-4o-mini at $1 in / $2 out per million in tests/ledger/helpers.py
    assert row["cost_usd"] == Decimal(PROMPT * 1 + billed * 2) / 1_000_000
    assert row["cost_usd"] < 1  # 2**62 tokens once recorded $9.2 trillion


def test_the_model_setting_overrides_the_family_default() -> None:
    models = [
        {"name": "gpt-4o-mini", "provider": "up", "max_output_tokens": 1000},
        {"name": "gen-model", "provider": "gen", "upstream_model": "gpt-4"},
    ]
    capped = settings("sqlite+aiosqlite:///:memory:", models=models)
    assert meter_tokens(cancelled(2**62, s=capped), "full").billed == 1000
    assert meter_tokens(cancelled(None, s=capped), "full").billed == 1000
    assert meter_tokens(cancelled(999, s=capped), "full").billed == 999


def test_generated_billing_never_goes_above_the_cap() -> None:
    models = [
        {"name": "gpt-4o-mini", "provider": "up", "max_output_tokens": 4},
        {"name": "gen-model", "provider": "gen", "upstream_model": "gpt-4"},
    ]
    tiny = settings("sqlite+aiosqlite:///:memory:", models=models)
    assert meter_tokens(cancelled(delivered=2, s=tiny), "generated").billed == 3
    at_cap = meter_tokens(cancelled(delivered=4, s=tiny), "generated")
    assert (at_cap.billed, at_cap.source) == (4, "counted")
    # delivered beyond the cap (the tokenizer disagrees with the provider): what was delivered
    assert meter_tokens(cancelled(delivered=6, s=tiny), "generated").billed == 6


def test_full_billing_never_bills_less_than_was_delivered() -> None:
    counted = meter_tokens(cancelled(2, delivered=5), "full")
    assert (counted.billed, counted.source) == (5, "counted")


def test_negative_counts_from_any_source_are_clamped_to_zero() -> None:
    call = make_call(SETTINGS, meter=make_meter([], usage=(-50, -7)))
    row = row_for(call)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (0, 0)
    assert row["cost_usd"] == 0
    call = make_call(SETTINGS, status="cancelled", meter=make_meter(WORDS[:2], usage=(-1, None)))
    assert row_for(call, "full")["prompt_tokens"] == 0


def test_a_cancelled_gemini_stream_gets_the_policys_bill_not_the_running_usage() -> None:
    """Gemini sends cumulative usage on every chunk: cut after 5, the last says 5 generated.
    That is not the provider's final bill (the stream never ended): `full` applies."""
    models = [
        {"name": "gpt-4o-mini", "provider": "up"},
        {"name": "gen-model", "provider": "gen", "upstream_model": "gpt-4"},
        {"name": "gem", "provider": "gem", "upstream_model": "gemini-2.5-flash"},
    ]
    providers = [
        {"name": "up", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
        {"name": "gen", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
        {"name": "gem", "kind": "gemini", "base_url": "http://127.0.0.1:9"},
    ]
    s = settings("sqlite+aiosqlite:///:memory:", models=models, providers=providers)
    assert s.provider("gem").billing_after_cancel == "full"
    body = {"messages": MESSAGES, "max_tokens": 400}
    meter = make_meter(WORDS[:5], usage=(12, 5))  # the running usage of the 5th chunk
    call = make_call(s, model="gem", status="cancelled", meter=meter, body=body)
    row = row_for(call, "full")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (12, 5)
    assert (row["billed_completion_tokens"], row["token_source"]) == (400, "estimated")
    no_limit = make_call(s, model="gem", status="cancelled", meter=make_meter(WORDS[:5], (12, 5)))
    assert row_for(no_limit, "full")["billed_completion_tokens"] == 65536  # gemini-2.5 max
    assert row_for(call, "delivered")["billed_completion_tokens"] == 5
    # A stream drained to its end (`on_cancel: drain`): its usage is the final bill.
    drained = make_meter(WORDS[:30], usage=(12, 30), gone_at=5)
    drained.done = True
    call = make_call(s, model="gem", status="cancelled", meter=drained, body=body)
    row = row_for(call, "full")
    assert (row["billed_completion_tokens"], row["token_source"]) == (30, "usage")


def test_the_cap_table() -> None:
    expected = {
        "gpt-4o-mini": 16384,
        "gpt-4o-2024-08-06": 16384,
        "gpt-4.1-nano": 32768,
        "o3-mini": 100000,
        "o4-mini-2025-04-16": 100000,
        "gpt-5-mini": 128000,
        "claude-sonnet-4-5-20250929": 64000,
        "claude-haiku-4-5": 64000,
        "claude-opus-4-5": 64000,
        "claude-sonnet-4-20250514": 64000,
        "claude-3-7-sonnet-latest": 64000,
        "claude-opus-4-1": 32000,
        "claude-3-5-haiku-20241022": 8192,
        "gemini-2.5-flash": 65536,
        "models/gemini-2.5-pro": 65536,
        "gemini-2.0-flash": 8192,
        "gemini-1.5-pro": 8192,
        "sim-gpt": limits.SIM_MAX_OUTPUT,
        "meta-llama/Llama-3.1-8B-Instruct": limits.FALLBACK_MAX_OUTPUT,
    }
    assert {name: limits.family_max_output(name) for name in expected} == expected
    assert limits.FALLBACK_MAX_OUTPUT == 32768


def test_max_output_tokens_must_be_positive() -> None:
    from gateway.config import ConfigError

    document = {
        "providers": [{"name": "p", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"}],
        "models": [{"name": "m", "provider": "p", "max_output_tokens": 0}],
    }
    with pytest.raises(ConfigError, match=r"models\[0\]\.max_output_tokens"):
        build_settings(document, {})


# --- cached input ------------------------------------------------------------------------


def vendor_settings(**prices: float) -> Settings:
    price = {"input": 2.0, "output": 8.0, **prices}
    providers = [
        {"name": kind, "kind": kind, "base_url": "http://127.0.0.1:9"}
        for kind in ("openai", "anthropic", "gemini")
    ]
    models = [
        {"name": f"{kind}-m", "provider": kind, "price": price}
        for kind in ("openai", "anthropic", "gemini")
    ]
    return settings("sqlite+aiosqlite:///:memory:", providers=providers, models=models)


def test_cache_prices_default_by_provider_kind() -> None:
    s = vendor_settings()
    prices = {
        kind: (s.model(f"{kind}-m").price.cache_read, s.model(f"{kind}-m").price.cache_write)  # type: ignore[union-attr]
        for kind in ("openai", "anthropic", "gemini")
    }
    assert prices == {"openai": (1.0, 2.0), "anthropic": (0.2, 2.5), "gemini": (0.5, 2.0)}
    explicit = vendor_settings(cache_read=0.01, cache_write=3.0)
    assert explicit.model("openai-m").price.cache_read == 0.01  # type: ignore[union-attr]
    assert explicit.model("anthropic-m").price.cache_write == 3.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "read", "write", "expected_micro"),
    [
        # (uncached x 2 + read x price + write x price + 10 out x 8): 1000 in, 600 read
        ("openai", 600, None, 400 * 2 + 600 * 1 + 10 * 8),
        ("anthropic", 600, 300, 100 * 2 + 600 * Decimal("0.2") + 300 * Decimal("2.5") + 80),
        ("gemini", 600, None, 400 * 2 + 600 * Decimal("0.5") + 80),
    ],
)
def test_cached_input_is_priced_at_the_cache_prices(
    kind: str, read: int, write: int | None, expected_micro: Any
) -> None:
    s = vendor_settings()
    meter = make_meter([], usage=(1000, 10))
    meter.set_usage(None, None, read, write)
    call = make_call(s, model=f"{kind}-m", meter=meter)
    row = row_for(call)
    assert (row["prompt_tokens"], row["cached_prompt_tokens"]) == (1000, read)
    assert row["cache_write_tokens"] == (write or 0)
    assert row["cost_usd"] == Decimal(expected_micro) / 1_000_000
    model = s.model(f"{kind}-m")
    assert model is not None
    assert row["price_cache_read"] == Decimal(str(model.price.cache_read))
    assert row["price_cache_write"] == Decimal(str(model.price.cache_write))


def test_cached_tokens_count_only_with_the_providers_prompt() -> None:
    """Without usage the prompt is counted by the tokenizer: nothing is known to be cached."""
    meter = make_meter(WORDS[:3])
    meter.cache_read_tokens = 99
    row = row_for(make_call(SETTINGS, status="cancelled", meter=meter), "delivered")
    assert (row["prompt_tokens"], row["cached_prompt_tokens"]) == (PROMPT, 0)


def test_money_is_exact() -> None:
    """0.1 + 0.2 style drift is gone: every amount is a Decimal computed from the prices'
    decimal text."""
    models = [
        {"name": "gpt-4o-mini", "provider": "up", "price": {"input": 0.1, "output": 0.7}},
        {"name": "gen-model", "provider": "gen", "upstream_model": "gpt-4"},
    ]
    s = settings("sqlite+aiosqlite:///:memory:", models=models)
    rows = [row_for(make_call(s, meter=make_meter([], usage=(3, 1)))) for _ in range(1000)]
    assert all(isinstance(r["cost_usd"], Decimal) for r in rows)
    assert sum(r["cost_usd"] for r in rows) == Decimal("0.001")  # 1000 x (0.3 + 0.7) / 1e6
    assert rows[0]["price_input"] == Decimal("0.1")
    batch = row_for(make_call(s, mode="batch", meter=make_meter([], usage=(3, 1))))
    assert batch["cost_usd"] == batch["batch_savings_usd"] == Decimal("0.0000005")
