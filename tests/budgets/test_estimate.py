"""A reservation is never below the bill: the prompt's byte bound against the tokenizer, the
output cap in every API's spelling, prices rounded up; limits in the config; reset times."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.budgets.estimate import estimate, maximum_output, pico
from gateway.budgets.headers import duration
from gateway.config import ConfigError, ModelConfig, Price, build_settings
from gateway.ledger.prompts import prompt_tokens

MODEL = ModelConfig(name="m", provider="p", upstream_model="gpt-4o",
                    price=Price(input=0.15, output=0.6, cache_read=0.075, cache_write=0.3))


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=4),
       system=st.text(max_size=100))
def test_the_byte_bound_is_never_below_the_tokenizers_count(texts: list[str], system: str) -> None:
    body = {"model": "m", "messages": [{"role": "system", "content": system}]
            + [{"role": "user", "content": text} for text in texts]}
    assert prompt_tokens(body, "gpt-4o") <= len(orjson.dumps(body))


@pytest.mark.parametrize(
    ("route", "body", "output"),
    [
        ("chat", {"max_tokens": 100}, 101),  # one more: a `generated` bill after an abort
        ("chat", {"max_completion_tokens": 50, "max_tokens": 900}, 51),
        ("chat", {}, 16384),  # none asked: the model's maximum (gpt-4o)
        ("chat", {"max_tokens": 10**9}, 16384),
        ("chat", {"max_tokens": 100, "n": 3}, 303),
        ("completions", {"max_tokens": 10, "best_of": 4, "n": 2}, 44),
        ("responses", {"max_output_tokens": 7}, 8),
        ("gemini", {"generationConfig": {"maxOutputTokens": 20, "candidateCount": 2}}, 42),
        ("gemini", {"generation_config": {"max_output_tokens": 5}}, 6),
        ("embeddings", {"max_tokens": 100}, 0),
        ("gemini_embed", {}, 0),
    ],
)
def test_the_output_reserved_in_every_apis_spelling(route: str, body: dict, output: int) -> None:
    assert maximum_output(MODEL, route, body) == output


def test_money_is_rounded_up_and_deferred_calls_pay_the_lane_price() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 9}
    size = len(orjson.dumps(body))
    full = estimate(MODEL, "chat", body)
    # a byte at the dearest prompt price (the cache write 0.3), each output token at 0.6
    assert full.usd == size * pico(Decimal("0.3") / 10**6) + 10 * pico(Decimal("0.6") / 10**6)
    assert full.tokens == -(-size // 4) + 10
    half = estimate(MODEL, "chat", body, discount=0.5)
    assert half.usd == full.usd // 2 + 1 + full.usd % 2  # rounded up, plus one pico of slack
    odd = ModelConfig(name="o", provider="p", price=Price(input=0.0000001, output=0))
    assert estimate(odd, "embeddings", {"input": "x"}).usd > 0  # a fraction of a pico: 1


def test_limits_in_the_config() -> None:
    settings = build_settings({"workloads": [{
        "name": "w", "limits": {"rpm": 60, "usd_per_day": 0.1},
        "keys": ["plain", {"key": "own", "limits": {"concurrency": 2, "usd_per_month": "12.5"}},
                 {"key": ""}],
    }]}, {})
    workload = settings.workloads[0]
    assert workload.limits.usd_per_day == Decimal("0.1")  # the decimal text, not a float
    assert [k.get_secret_value() for k in workload.keys] == ["plain", "own"]
    assert workload.keys[1].limits.usd_per_month == Decimal("12.5")
    assert not workload.keys[0].limits.any
    assert settings.empty_workload_keys() == ["workloads[0].keys[2]"]
    for bad, field in (({"rpm": 0}, "limits.rpm"), ({"usd_per_day": "lots"}, "usd_per_day"),
                       ({"burst": 3}, "limits.burst")):
        with pytest.raises(ConfigError, match=field):
            build_settings({"workloads": [{"name": "w", "keys": [{"key": "k", "limits": bad}]}]},
                           {})


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.0, "0ms"), (0.0204, "21ms"), (1, "1s"), (1.5, "1.5s"), (59.9996, "1m0s"),
     (360, "6m0s"), (61.25, "1m1.25s")],
)
def test_reset_times_as_openai_writes_them(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown
