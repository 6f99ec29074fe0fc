"""The routing strategies on real calls: weighted, least in flight, lowest measured TTFT."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.routing.helpers import client, deployments, new_tag, reached, say, streamed_text


def test_weighted_routing_follows_the_weights(routed, sim) -> None:
    tag = new_tag()
    gateway = client(routed)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(
            lambda _: gateway.chat.completions.create(
                model="r-weighted", messages=say(tag, "ttft_ms=0 tokens=1")),
            range(120)))
    models = reached(sim, tag)
    assert len(models) == 120
    assert 70 <= models.count("up-w3") <= 110  # weight 3 of 4: 90 expected, sd 4.7


def test_least_inflight_spreads_concurrent_calls_evenly(routed, sim) -> None:
    tag = new_tag()
    gateway = client(routed)
    start = threading.Barrier(6)

    def call(_: int) -> str:
        start.wait()
        return streamed_text(gateway.chat.completions.create(
            model="r-least", messages=say(tag, "ttft_ms=800"), stream=True))

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert all(pool.map(call, range(6)))
    models = reached(sim, tag)
    assert (models.count("up-l1"), models.count("up-l2")) == (3, 3)


def test_lowest_ttft_prefers_the_faster_deployment_once_measured(routed, sim) -> None:
    gateway = client(routed)
    names = [("r-ttft", "fast/up-fast"), ("r-ttft", "lagging/up-lag")]
    for _ in range(4):  # each deployment is measured first (one without a figure goes first)
        streamed_text(gateway.chat.completions.create(
            model="r-ttft", messages=say(new_tag()), stream=True))
    rows = deployments(routed)
    assert all(rows[name]["ttft_seconds"] is not None for name in names)
    tag = new_tag()
    for _ in range(20):
        streamed_text(gateway.chat.completions.create(
            model="r-ttft", messages=say(tag), stream=True))
    assert reached(sim, tag).count("up-fast") >= 13  # 19 expected (1 in 10 explores)
    fast, lagging = (deployments(routed)[name] for name in names)
    assert fast["ttft_seconds"] < lagging["ttft_seconds"]
    assert fast["output_tokens_per_second"] > 0


def test_calls_in_flight_are_counted_per_deployment(routed) -> None:
    tag = new_tag()
    names = [("r-least", "ok/up-l1"), ("r-least", "ok/up-l2")]
    worker = threading.Thread(target=lambda: client(routed).chat.completions.create(
        model="r-least", messages=say(tag, "ttft_ms=600")))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while sum(deployments(routed)[name]["in_flight"] for name in names) != 1:
            assert time.monotonic() < deadline, "the call never showed in flight"
            time.sleep(0.05)
    finally:
        worker.join(10)
    assert sum(deployments(routed)[name]["in_flight"] for name in names) == 0
