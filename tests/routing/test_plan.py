"""Unit tests of the routing order, retries, cooldowns and strategies (no network)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from gateway.config import build_settings
from gateway.errors import (
    BadRequest,
    FirstByteTimeout,
    GatewayError,
    RateLimited,
    UpstreamError,
    UpstreamPoolExhausted,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.providers import build_provider
from gateway.routing.deployment import Deployment
from gateway.routing.plan import Plan, classify, retry_after
from gateway.routing.router import Router
from gateway.routing.strategies import least_inflight, lowest_ttft, weighted

PROVIDERS = [{"name": n, "kind": k, "base_url": "http://127.0.0.1:1/v1"}
             for n, k in (("a", "openai"), ("b", "openai"), ("c", "anthropic"))]


def router(*models: dict[str, Any]) -> Router:
    settings = build_settings({"providers": PROVIDERS, "models": list(models)}, {})
    return Router(settings, {p.name: build_provider(p) for p in settings.providers})


def names(plan: Plan) -> list[tuple[str, float]]:
    """Every attempt the plan would make, with its wait, as (model/deployment, wait)."""
    seen = [(plan.attempt.deployment.key, plan.attempt.wait)]
    while (following := plan._next()) is not None:
        seen.append((following.deployment.key, following.wait))
    return seen


def build(deployment: Deployment) -> tuple[Any, Any]:
    return deployment.name, None


def test_each_deployment_once_then_the_fallbacks_depth_first() -> None:
    routes = router(
        {"name": "m", "deployments": [{"provider": "a"}, {"provider": "b", "weight": 0}],
         "fallbacks": ["f", "g"]},
        {"name": "f", "provider": "a", "fallbacks": ["h"]},
        {"name": "g", "provider": "b"},
        {"name": "h", "provider": "c"},
    )
    assert [key for key, _ in names(routes.plan("m", build))] == [
        "m/a/m", "m/b/m", "f/a/f", "h/c/h", "g/b/g"]


def test_retries_go_round_again_after_a_growing_backoff() -> None:
    routes = router({"name": "m", "deployments": [{"provider": "a"}, {"provider": "b",
                                                                       "weight": 0}],
                     "retries": 4})
    assert names(routes.plan("m", build)) == [
        ("m/a/m", 0.0), ("m/b/m", 0.0), ("m/a/m", 0.1), ("m/b/m", 0.1), ("m/a/m", 0.2)]


def test_cooling_deployments_are_skipped_unless_all_are_cooling() -> None:
    routes = router({"name": "m", "deployments": [{"provider": "a"}, {"provider": "b"}]},
                    {"name": "solo", "provider": "a"})
    first, second = routes.routes["m"].deployments
    routes.cooldowns.start(first.key, 30)
    assert [key for key, _ in names(routes.plan("m", build))] == ["m/b/m"]
    routes.cooldowns.start(second.key, 30)
    assert sorted(key for key, _ in names(routes.plan("m", build))) == ["m/a/m", "m/b/m"]
    routes.cooldowns.start(routes.routes["solo"].primary.key, 30)
    assert [key for key, _ in names(routes.plan("solo", build))] == ["solo/a/solo"]


def test_a_deployment_that_cannot_carry_the_call_is_passed_over() -> None:
    routes = router({"name": "m", "deployments": [{"provider": "c"}, {"provider": "a",
                                                                       "weight": 0}]})

    def openai_only(deployment: Deployment) -> tuple[Any, Any]:
        if deployment.provider.kind != "openai":
            raise BadRequest("no such thing on anthropic", param="logprobs")
        return deployment.name, None

    assert routes.plan("m", openai_only).attempt.deployment.name == "a/m"

    def refuse_all(deployment: Deployment) -> tuple[Any, Any]:
        raise BadRequest(f"not on {deployment.provider.kind}")

    with pytest.raises(BadRequest, match="not on anthropic"):  # the first refusal
        routes.plan("m", refuse_all)


def test_failures_in_a_row_start_a_cooldown_and_a_429_cools_for_its_retry_after() -> None:
    routes = router({"name": "m", "provider": "a", "cooldown_failures": 2, "cooldown": "10s"},
                    {"name": "off", "provider": "b", "cooldown": 0})
    route = routes.routes["m"]
    deployment = route.primary
    routes.failed(route, deployment, "server_error", 500, "boom")
    assert not routes.cooling(deployment)
    routes.failed(route, deployment, "client_error", 400, "yours")  # not the deployment's fault
    assert not routes.cooling(deployment)
    routes.failed(route, deployment, "unavailable", 502, "refused")
    assert routes.cooling(deployment)
    assert [e["outcome"] for e in deployment.describe()["recent_errors"]] == [
        "server_error", "unavailable"]
    deployment.answered(0.1, 50.0)
    assert deployment.consecutive == 0
    off = routes.routes["off"]
    for _ in range(5):
        routes.failed(off, off.primary, "rate_limited", 429, "slow down", 30.0)
    assert not routes.cooling(off.primary)  # cooldown: 0 turns cooldowns off


def test_moving_figures() -> None:
    routes = router({"name": "m", "provider": "a"})
    deployment = routes.routes["m"].primary
    deployment.answered(1.0, 10.0)
    deployment.answered(2.0, 20.0)
    assert deployment.ttft == pytest.approx(1.3) and deployment.tps == pytest.approx(13.0)
    deployment.answered(None, None)  # a whole answer: no figure
    assert deployment.ttft == pytest.approx(1.3)


@pytest.mark.parametrize(("error", "outcome"), [
    (FirstByteTimeout("late"), "first_byte_timeout"),
    (RateLimited("slow down"), "rate_limited"),
    (UpstreamTimeout("silent"), "timeout"),
    (UpstreamUnavailable("refused"), "unavailable"),
    (UpstreamPoolExhausted("busy"), "unavailable"),
    (UpstreamError("reset"), "server_error"),
    (UpstreamError("bad key", code="upstream_auth_failed"), "server_error"),
    (UpstreamStatus("overloaded", status=503, type="overloaded_error"), "server_error"),
    (UpstreamStatus("too long", status=400, type="invalid_request_error"), "client_error"),
    (BadRequest("nope"), "client_error"),
    (GatewayError("bug"), "client_error"),
])
def test_classify(error: GatewayError, outcome: str) -> None:
    assert classify(error) == outcome


def test_retry_after_as_seconds_or_a_date() -> None:
    assert retry_after(RateLimited("x", headers={"retry-after": "2"})) == 2.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after(RateLimited("x", headers={"retry-after": later})) or 0) <= 30
    assert retry_after(RateLimited("x", headers={"retry-after": "soon"})) is None
    assert retry_after(RateLimited("x")) is None


def _deployments(*weights: float) -> list[Deployment]:
    routes = router({"name": "m", "deployments": [
        {"provider": "a", "name": f"d{i}", "weight": w} for i, w in enumerate(weights)]})
    return routes.routes["m"].deployments


def test_weighted_first_picks_follow_the_weights_and_standbys_come_last() -> None:
    deployments = _deployments(3, 1, 0)
    rng = random.Random(7)
    firsts = [weighted(deployments, rng)[0].name for _ in range(4000)]
    assert 2850 <= firsts.count("d0") <= 3150  # 3000 expected
    assert "d2" not in firsts
    assert all(weighted(deployments, rng)[-1].name == "d2" for _ in range(50))


def test_least_inflight_orders_by_calls_running() -> None:
    deployments = _deployments(1, 1, 1)
    deployments[0].in_flight, deployments[1].in_flight, deployments[2].in_flight = 3, 0, 1
    assert [d.name for d in least_inflight(deployments, random.Random(1))] == ["d1", "d2", "d0"]


def test_lowest_ttft_measures_first_then_prefers_the_fastest_and_explores() -> None:
    deployments = _deployments(1, 1)
    deployments[0].ttft = 0.5
    rng = random.Random(3)
    assert lowest_ttft(deployments, rng)[0].name == "d1"  # no figure yet: goes first
    deployments[1].ttft = 0.1
    firsts = [lowest_ttft(deployments, rng)[0].name for _ in range(2000)]
    assert 120 <= firsts.count("d0") <= 280  # about 1 in 10 explores
