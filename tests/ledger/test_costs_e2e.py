"""End to end on Postgres: the SDKs -> a gateway process -> the simulator, and the bill the
ledger keeps: estimates capped by the model's maximum output, Gemini's running usage not taken
for a final bill, cached input at the cache prices, money summed exactly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest
from sqlalchemy import select

from gateway.ledger.database import build_engine
from gateway.ledger.limits import SIM_MAX_OUTPUT
from gateway.ledger.models import calls
from tests.ledger.live import fetch_record, read_then_close, start_ledger_gateway
from tests.servers import SIM_KEY, ServerProcess, gateway_config
from tests.services import PostgresDatabases

MILLION = Decimal(1_000_000)


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess, postgres: PostgresDatabases
) -> Iterator[tuple[ServerProcess, str]]:
    tmp = tmp_path_factory.mktemp("costs-e2e")
    url = postgres.new()
    base = gateway_config(sim.url)
    providers = base["providers"] + [
        {
            "name": "sim-full",
            "kind": "openai",
            "base_url": f"{sim.url}/v1",
            "api_key": SIM_KEY,
            "cancel_billing": "full",
            "read_timeout": "3s",
        }
    ]
    models = base["models"] + [
        {
            "name": "full-test",
            "provider": "sim-full",
            "upstream_model": "sim-gpt",
            "price": {"input": 1.0, "output": 2.0},
        },
        {
            "name": "exact-test",
            "provider": "sim",
            "upstream_model": "sim-gpt",
            "price": {"input": 0.1, "output": 0.7},
        },
    ]
    server = start_ledger_gateway(tmp, sim.url, url, providers=providers, models=models)
    yield server, url
    server.stop()


@pytest.fixture
def gw(live: tuple[ServerProcess, str]) -> ServerProcess:
    return live[0]


def oai(gw: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="key-chat", max_retries=0, timeout=10)


def stored(url: str, ids: list[str]) -> dict[str, Any]:
    """Rows read from Postgres itself (not through the API's JSON numbers)."""

    async def read() -> dict[str, Any]:
        engine = build_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(calls).where(calls.c.id.in_(ids)))
                return {row.id: row for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_max_tokens_beyond_any_provider_is_refused_before_it_reaches_the_ledger(
    live: tuple[ServerProcess, str],
) -> None:
    """2**62 once recorded $9.2 trillion and 2**40 overflowed int4: now a 400 naming it."""
    for max_tokens in (2**62, 2**40):
        with pytest.raises(openai.BadRequestError) as refused:
            oai(live[0]).chat.completions.create(
                model="full-test", max_tokens=max_tokens,
                messages=[{"role": "user", "content": "hi"}],
            )
        assert refused.value.body["param"] == "max_tokens"  # type: ignore[index]


@pytest.mark.parametrize("max_tokens", [2**31 - 1, 10**6])
def test_full_billing_of_a_huge_max_tokens_is_capped_and_lands(
    live: tuple[ServerProcess, str], max_tokens: int
) -> None:
    gw, url = live
    raw = oai(gw).chat.completions.with_raw_response.create(
        model="full-test",
        stream=True,
        max_tokens=max_tokens,
        messages=[{"role": "user", "content": "go on [sim tps=20 tokens=200]"}],
    )
    read_then_close(raw.parse(), 2)
    call_id = raw.headers["x-gateway-request-id"]
    record = fetch_record(gw, call_id)
    assert (record["status"], record["token_source"]) == ("cancelled", "estimated")
    assert record["billed_completion_tokens"] == SIM_MAX_OUTPUT
    expected = (record["prompt_tokens"] * 1 + SIM_MAX_OUTPUT * 2) / MILLION
    row = stored(url, [call_id])[call_id]
    assert row.cost_usd == row.cancelled_cost_usd == expected  # cents, not $9.2 trillion
    assert row.billed_completion_tokens == SIM_MAX_OUTPUT


@pytest.mark.parametrize(("max_tokens", "billed"), [(500, 500), (None, SIM_MAX_OUTPUT)])
def test_a_cancelled_gemini_stream_records_the_policys_bill(
    live: tuple[ServerProcess, str], max_tokens: int | None, billed: int
) -> None:
    """gemini-test: a gemini-kind provider (cancel_billing `full` by default) served by the
    simulator, which sends cumulative usage on every chunk."""
    gw, url = live
    text = "hello [sim tps=20 tokens=200]"
    options: dict[str, Any] = {} if max_tokens is None else {"max_tokens": max_tokens}
    raw = oai(gw).chat.completions.with_raw_response.create(
        model="gemini-test", stream=True, messages=[{"role": "user", "content": text}], **options
    )
    read_then_close(raw.parse(), 3)
    record = fetch_record(gw, raw.headers["x-gateway-request-id"])
    assert record["status"] == "cancelled"
    assert record["prompt_tokens"] == len(text.split())  # the provider's own count
    assert 3 <= record["completion_tokens"] <= 5
    assert (record["billed_completion_tokens"], record["token_source"]) == (billed, "estimated")
    expected = (Decimal(len(text.split())) * Decimal("0.3") + billed * Decimal("2.5")) / MILLION
    assert Decimal(str(record["cost_usd"])) == expected


def cached_cost(record: dict[str, Any], prices: tuple[str, str, str, str]) -> Decimal:
    price_in, read, write, out = (Decimal(p) for p in prices)
    cached, written = record["cached_prompt_tokens"], record["cache_write_tokens"]
    uncached = record["prompt_tokens"] - cached - written
    billed = record["billed_completion_tokens"]
    return (uncached * price_in + cached * read + written * write + billed * out) / MILLION


@pytest.mark.parametrize("stream", [False, True])
def test_openai_cached_tokens_at_the_cache_price(
    live: tuple[ServerProcess, str], stream: bool
) -> None:
    gw, url = live
    text = "cached prefix [sim cached=1000 tokens=5]"
    raw = oai(gw).chat.completions.with_raw_response.create(
        model="gpt-test", stream=stream, messages=[{"role": "user", "content": text}]
    )
    if stream:
        assert len([c for c in raw.parse() if c.choices and c.choices[0].delta.content]) == 5
    else:
        body = raw.parse()
        assert body.usage.prompt_tokens_details.cached_tokens == 1000
    call_id = raw.headers["x-gateway-request-id"]
    record = fetch_record(gw, call_id)
    assert record["prompt_tokens"] == len(text.split()) + 1000
    assert (record["cached_prompt_tokens"], record["cache_write_tokens"]) == (1000, 0)
    # gpt-test: $1 in, $2 out; OpenAI-kind cached reads default to half the input price
    assert (record["price_cache_read"], record["price_cache_write"]) == (0.5, 1.0)
    expected = cached_cost(record, ("1", "0.5", "1", "2"))
    assert stored(url, [call_id])[call_id].cost_usd == expected


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_cache_reads_and_writes_at_their_prices(
    live: tuple[ServerProcess, str], stream: bool
) -> None:
    gw, url = live
    client = anthropic.Anthropic(base_url=gw.url, api_key="key-chat", max_retries=0, timeout=10)
    text = "system prompt [sim cached=800 cache_write=200 tokens=4]"
    messages = [{"role": "user", "content": text}]
    if stream:
        with client.messages.stream(model="claude-test", max_tokens=50, messages=messages) as s:
            call_id = s.response.headers["x-gateway-request-id"]
            final = s.get_final_message()
    else:
        raw = client.messages.with_raw_response.create(
            model="claude-test", max_tokens=50, messages=messages
        )
        call_id, final = raw.headers["x-gateway-request-id"], raw.parse()
    assert (final.usage.cache_read_input_tokens, final.usage.cache_creation_input_tokens) == (
        800,
        200,
    )
    record = fetch_record(gw, call_id)
    assert record["prompt_tokens"] == len(text.split()) + 800 + 200
    assert (record["cached_prompt_tokens"], record["cache_write_tokens"]) == (800, 200)
    # claude-test: $3 in, $15 out; Anthropic reads at 0.1x, writes at 1.25x the input price
    assert (record["price_cache_read"], record["price_cache_write"]) == (0.3, 3.75)
    expected = cached_cost(record, ("3", "0.3", "3.75", "15"))
    assert stored(url, [call_id])[call_id].cost_usd == expected


def test_gemini_cached_content_at_the_cache_price_through_translation(
    live: tuple[ServerProcess, str],
) -> None:
    gw, url = live
    text = "long context [sim cached=400 tokens=3]"
    raw = oai(gw).chat.completions.with_raw_response.create(
        model="gemini-test", messages=[{"role": "user", "content": text}]
    )
    assert raw.parse().usage.prompt_tokens_details.cached_tokens == 400
    call_id = raw.headers["x-gateway-request-id"]
    record = fetch_record(gw, call_id)
    assert record["prompt_tokens"] == len(text.split()) + 400
    assert record["cached_prompt_tokens"] == 400
    # gemini-test: $0.30 in, $2.50 out; Gemini cached reads default to a quarter of the input
    assert record["price_cache_read"] == 0.075
    expected = cached_cost(record, ("0.3", "0.075", "0.3", "2.5"))
    assert stored(url, [call_id])[call_id].cost_usd == expected


def test_many_calls_sum_to_the_exact_amount(live: tuple[ServerProcess, str]) -> None:
    """exact-test costs $0.1 in and $0.7 out per million: as floats such sums drift."""
    gw, url = live
    tag = uuid.uuid4().hex[:8]
    ids = []
    for _ in range(30):
        raw = oai(gw).chat.completions.with_raw_response.create(
            model="exact-test", messages=[{"role": "user", "content": f"{tag} [sim tokens=1]"}]
        )
        ids.append(raw.headers["x-gateway-request-id"])
    records = [fetch_record(gw, call_id) for call_id in ids]
    assert {(r["prompt_tokens"], r["completion_tokens"]) for r in records} == {(3, 1)}
    rows = stored(url, ids)
    assert sum(row.cost_usd for row in rows.values()) == Decimal("0.00003")  # 30 x $0.000001
