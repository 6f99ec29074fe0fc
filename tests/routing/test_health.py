"""Deployment health under real failures: a deployment killed under load, and a cooldown
seen by two gateway processes on one Redis."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import sim_records
from tests.ops.traffic import wait_for
from tests.routing.helpers import client, deployments, new_tag, reached, say, streamed_text
from tests.servers import ServerProcess, start_gateway

CALLS = 24


@pytest.mark.timeout(60)
def test_a_killed_deployment_under_load_fails_no_call(routed, sim, victim) -> None:
    """Half the calls go to the victim first; it is SIGKILLed while they wait for their first
    token there (it answers after 5 s), so each is retried on the healthy deployment before
    any byte reached its client, and later calls find it refused, then cooling down."""
    tag = new_tag()
    gateway = client(routed)

    def call(number: int) -> str:
        stream = number % 2 == 0
        answer = gateway.chat.completions.create(
            model="r-kill", messages=say(tag), stream=stream)
        return streamed_text(answer) if stream else answer.choices[0].message.content or ""

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(call, number) for number in range(CALLS)]
        wait_for(lambda: sim_records(victim, tag), timeout=10, what="calls on the victim")
        victim.proc.kill()  # SIGKILL, by its pid
        answers = [future.result(timeout=30) for future in futures]
    assert all(answers)  # every call succeeded, streaming or not
    assert reached(sim, tag).count("up-kill-h") == CALLS
    killed = deployments(routed)[("r-kill", "victim/up-kill-v")]
    assert killed["health"] == "cooling_down" and killed["cooling_down_until"]
    assert killed["failures"] >= 2


@pytest.mark.timeout(60)
def test_a_cooldown_is_shared_by_two_gateways_on_one_redis(
    routed, routing_setup: dict[str, Any], tmp_session: Path
) -> None:
    first = client(routed)
    tag = new_tag()

    def dead_cooling(gateway: ServerProcess) -> bool:
        return deployments(gateway)[("r-shared", "dead/up-dead")]["health"] == "cooling_down"

    def call_first() -> bool:
        first.chat.completions.create(model="r-shared", messages=say(tag))
        return dead_cooling(routed)

    wait_for(call_first, timeout=20, what="the dead deployment cooling on the first gateway")
    second = start_gateway(tmp_session, dict(routing_setup))
    try:
        wait_for(lambda: dead_cooling(second), timeout=5, what="the second gateway to see it")
        other = client(second)
        for _ in range(6):
            other.chat.completions.create(model="r-shared", messages=say(tag))
        dead = deployments(second)[("r-shared", "dead/up-dead")]
        assert (dead["calls"], dead["failures"]) == (0, 0)  # never tried by the second
        assert dead["cooling_down_until"]
    finally:
        second.stop()
