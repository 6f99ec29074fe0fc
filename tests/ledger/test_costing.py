"""Metering: a finished call -> its ledger row (pure, no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import tokens
from gateway.ledger.costing import meter_tokens, needs_tokenizer, row_for
from gateway.ledger.models import CALL_COLUMNS
from gateway.ledger.prompts import prompt_tokens
from gateway.sim.words import token
from tests.ledger.helpers import MESSAGES, PRICE_IN, PRICE_OUT, make_call, make_meter, settings

SETTINGS = settings("sqlite+aiosqlite:///:memory:")
WORDS = [token(i) for i in range(50)]  # one token each
PROMPT = prompt_tokens({"messages": MESSAGES}, "gpt-4o-mini")


def cost(
    prompt: int, completion: int, price_in: float = PRICE_IN, price_out: float = PRICE_OUT
) -> Decimal:
    """The exact bill (USD) the ledger must record."""
    return (prompt * Decimal(str(price_in)) + completion * Decimal(str(price_out))) / 1_000_000


def test_completed_call_uses_the_providers_usage() -> None:
    call = make_call(SETTINGS, meter=make_meter(WORDS[:4], usage=(120, 40)))
    row = row_for(call)
    assert set(row) == set(CALL_COLUMNS)
    assert (row["prompt_tokens"], row["completion_tokens"], row["billed_completion_tokens"]) == (
        120,
        40,
        40,
    )
    assert row["token_source"] == "usage"
    assert row["cost_usd"] == cost(120, 40)
    assert row["cancelled_cost_usd"] == 0
    assert (row["price_input"], row["price_output"]) == (Decimal(PRICE_IN), Decimal(PRICE_OUT))
    assert (row["status"], row["http_status"], row["mode"]) == ("completed", 200, "stream")
    assert row["workload"] == "chat-ui" and row["model"] == "gpt-4o-mini"
    assert row["provider"] == "up" and row["route"] == "chat" and row["key_id"] == "k" * 16
    assert row["duration_ms"] == pytest.approx(250.0)
    assert row["ttft_ms"] is not None and row["ttft_ms"] >= 0
    assert row["abort_latency_ms"] is None and row["cancel_reason"] is None


def test_completed_call_without_usage_is_counted() -> None:
    call = make_call(SETTINGS, meter=make_meter(WORDS[:7]))
    row = row_for(call)
    assert row["token_source"] == "counted"
    assert row["prompt_tokens"] == PROMPT
    assert row["completion_tokens"] == row["billed_completion_tokens"] == 7
    assert row["cost_usd"] == cost(PROMPT, 7)
    assert needs_tokenizer(call)


def test_embeddings_usage_has_no_completion_tokens() -> None:
    call = make_call(
        SETTINGS,
        route="embeddings",
        mode="sync",
        meter=make_meter([], (8, None)),
        body={"input": "hello"},
    )
    row = row_for(call)
    assert (row["prompt_tokens"], row["completion_tokens"], row["token_source"]) == (8, 0, "usage")
    assert not needs_tokenizer(call)


@pytest.mark.parametrize("delivered", [0, 1, 5])
def test_cancelled_stream_counts_the_delivered_tokens(delivered: int) -> None:
    call = make_call(SETTINGS, status="cancelled", meter=make_meter(WORDS[:delivered]))
    row = row_for(call, "delivered")
    assert row["status"] == "cancelled" and row["http_status"] == 499
    assert row["completion_tokens"] == row["billed_completion_tokens"] == delivered
    assert row["prompt_tokens"] == PROMPT
    assert row["token_source"] == "counted"
    assert row["cost_usd"] == cost(PROMPT, delivered)
    assert row["cancelled_cost_usd"] == row["cost_usd"]
    assert row["cancel_reason"] == "client_disconnect"
    assert row["abort_latency_ms"] == pytest.approx(1.5)


def test_cancelled_with_generated_billing_adds_the_token_in_flight() -> None:
    call = make_call(SETTINGS, status="cancelled", meter=make_meter(WORDS[:5]))
    counted = meter_tokens(call, "generated")
    assert (counted.delivered, counted.billed, counted.source) == (5, 6, "estimated")
    unsent = make_call(SETTINGS, status="cancelled", meter=make_meter([], sent=False))
    assert meter_tokens(unsent, "generated").billed == 0


def test_cancelled_with_full_billing_bills_max_tokens() -> None:
    body = {"messages": MESSAGES, "max_tokens": 300}
    call = make_call(SETTINGS, status="cancelled", meter=make_meter(WORDS[:5]), body=body)
    row = row_for(call, "full")
    assert (row["completion_tokens"], row["billed_completion_tokens"]) == (5, 300)
    assert row["token_source"] == "estimated"
    assert row["cost_usd"] == cost(PROMPT, 300)
    no_limit = make_call(SETTINGS, status="cancelled", meter=make_meter(WORDS[:5]))
    assert meter_tokens(no_limit, "full").billed == 16384  # gpt-4o-mini's maximum output


def test_drain_bills_the_providers_usage_but_counts_only_what_was_delivered() -> None:
    # The client left after 3 pieces; `drain` kept reading to the end and its usage.
    meter = make_meter(WORDS[:50], usage=(11, 50), gone_at=3)
    meter.done = True
    assert meter.delivered_text == "".join(WORDS[:3])
    call = make_call(SETTINGS, status="cancelled", meter=meter)
    row = row_for(call, "delivered")
    assert (row["prompt_tokens"], row["completion_tokens"], row["billed_completion_tokens"]) == (
        11,
        3,
        50,
    )
    assert row["token_source"] == "usage"
    assert row["cost_usd"] == row["cancelled_cost_usd"] == cost(11, 50)


def test_failed_before_generating_costs_nothing() -> None:
    call = make_call(SETTINGS, status="failed", meter=make_meter([]))
    row = row_for(call)
    assert (row["status"], row["http_status"], row["error"]) == (
        "failed",
        502,
        "upstream went away",
    )
    assert row["prompt_tokens"] == row["completion_tokens"] == 0
    assert row["cost_usd"] == 0
    assert not needs_tokenizer(call)


def test_failed_mid_stream_bills_what_was_delivered() -> None:
    call = make_call(SETTINGS, status="failed", meter=make_meter(WORDS[:4]))
    row = row_for(call)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (PROMPT, 4)
    assert row["cost_usd"] == cost(PROMPT, 4)
    assert row["cancelled_cost_usd"] == 0


def test_batch_calls_credit_the_discount() -> None:
    call = make_call(SETTINGS, mode="batch", meter=make_meter([], usage=(1000, 1000)))
    row = row_for(call)
    full = cost(1000, 1000)
    assert row["cost_usd"] == row["batch_savings_usd"] == full / 2


def test_tokens_are_counted_with_the_upstream_models_encoding() -> None:
    # gen-model is served as upstream `gpt-4` (cl100k_base): counted with that encoding
    text = "Здравствуйте, как дела у вас сегодня"
    call = make_call(SETTINGS, model="gen-model", status="cancelled", meter=make_meter([text]))
    assert row_for(call)["completion_tokens"] == tokens.count(text, "gpt-4")
    assert tokens.count(text, "gpt-4") != tokens.count(text, "gpt-4o")
