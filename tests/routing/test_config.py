"""Deployments, routing and fallbacks in the config: both forms, and messages naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.calls import restore
from gateway.config import ConfigError, ModelConfig, build_settings
from gateway.providers import build_provider
from gateway.routing.deployment import Deployment

PROVIDERS = [
    {"name": "oa", "kind": "openai", "base_url": "http://127.0.0.1:1/v1"},
    {"name": "an", "kind": "anthropic", "base_url": "http://127.0.0.1:2"},
]


def settings(*models: dict[str, Any]) -> Any:
    return build_settings({"providers": PROVIDERS, "models": list(models)}, {})


def test_the_one_provider_form_is_one_deployment() -> None:
    model = settings({"name": "m", "provider": "oa", "upstream_model": "up"}).models[0]
    [deployment] = model.deployments
    assert (deployment.provider, deployment.upstream_model, deployment.label("m")) == (
        "oa", "up", "oa/up")
    assert (model.routing, model.fallbacks, model.attempts, model.first_byte_timeout) == (
        "weighted", [], 1, None)
    assert (model.cooldown, model.cooldown_failures) == (30.0, 3)


def test_deployments_fill_in_the_first_as_the_models_provider() -> None:
    model = settings({
        "name": "m", "routing": "lowest_ttft", "first_byte_timeout": "1500ms", "retries": 3,
        "cooldown": "1m", "fallbacks": ["n"], "price": {"input": 1.0, "output": 2.0},
        "deployments": [{"provider": "an", "upstream_model": "claude-x", "weight": 2},
                        {"provider": "oa", "name": "cheap", "price": {"input": 0.5}}],
    }, {"name": "n", "provider": "oa"}).models[0]
    assert (model.provider, model.upstream_model, model.attempts) == ("an", "claude-x", 4)
    assert (model.first_byte_timeout, model.cooldown) == (1.5, 60.0)
    first, second = model.deployments
    assert first.price is not None and first.price.cache_read == pytest.approx(0.1)  # anthropic
    assert second.price is not None and (second.price.input, second.price.cache_read) == (
        0.5, 0.25)  # its own price, openai's cache ratio
    served = Deployment(model, second, build_provider(settings(
        {"name": "x", "provider": "oa"}).providers[0]))
    assert (served.name, served.model.provider, served.model.upstream_name) == ("cheap", "oa", "m")
    assert served.model.price.input == 0.5


def test_a_served_model_round_trips_through_the_journal() -> None:
    model = settings({"name": "m", "deployments": [{"provider": "an"}, {"provider": "oa"}]})
    config = model.models[0]
    served = Deployment(config, config.deployments[1], build_provider(model.providers[0]))
    again = ModelConfig.model_validate(served.model.model_dump(mode="json"))
    assert (again.provider, again.upstream_name, again.price) == (
        "oa", "m", served.model.price)
    assert restore({"id": "c", "workload": "w", "route": "chat", "provider": "oa",
                    "mode": "sync", "created_at": "2026-01-01T00:00:00+00:00",
                    "model": served.model.model_dump(mode="json")}).model.provider == "oa"


@pytest.mark.parametrize(("models", "message"), [
    ([{"name": "m", "deployments": [{"provider": "oa"}, {"provider": "zz"}]}],
     r"models\[0\]\.deployments\[1\]\.provider: unknown provider 'zz'"),
    ([{"name": "m", "provider": "zz"}], r"models\[0\]\.provider: unknown provider 'zz'"),
    ([{"name": "m", "provider": "oa", "fallbacks": ["nope"]}],
     r"models\[0\]\.fallbacks\[0\]: unknown model 'nope'"),
    ([{"name": "m", "provider": "oa", "fallbacks": ["m"]}],
     r"models\[0\]\.fallbacks: a cycle m -> m"),
    ([{"name": "a", "provider": "oa", "fallbacks": ["b"]},
      {"name": "b", "provider": "oa", "fallbacks": ["c"]},
      {"name": "c", "provider": "oa", "fallbacks": ["a"]}],
     r"models\[0\]\.fallbacks: a cycle a -> b -> c -> a"),
    ([{"name": "m", "provider": "an", "deployments": [{"provider": "oa"}]}],
     r"models\[0\]: .*either provider/upstream_model .* or deployments"),
    ([{"name": "m", "deployments": [{"provider": "oa"}, {"provider": "oa"}]}],
     r"models\[0\]: .*deployments\[1\]: a second deployment named 'oa/m'"),
    ([{"name": "m", "deployments": [{"provider": "oa", "weight": 0}]}],
     r"models\[0\]: .*at least one needs a weight above 0"),
    ([{"name": "m", "provider": "oa", "routing": "fastest"}], r"models\[0\]\.routing"),
    ([{"name": "m", "provider": "oa", "first_byte_timeout": "0s"}],
     r"models\[0\]\.first_byte_timeout"),
    ([{"name": "m", "deployments": [{"provider": "oa", "weight": -1}]}],
     r"models\[0\]\.deployments\[0\]\.weight"),
])
def test_mistakes_are_named(models: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(*models)
