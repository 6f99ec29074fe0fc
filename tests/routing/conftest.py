"""A gateway whose models have several deployments, all on real simulator processes.

Most deployments are on the session's simulator: each provider sends its own
`x-sim-directive` header (an error, a slow first token), and each deployment its own upstream
model name, so the simulator's stats show which deployment a request reached. `victim` is a
second simulator (slow to its first token) for the test that kills it. Cooldowns go through
Redis (the test database, cleared first).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.servers import SIM_KEY, ServerProcess, free_port, start_gateway, start_sim

ADMIN = "admin-secret"
KEY = "key-routing"


def _provider(name: str, url: str, directive: str | None = None, **extra: Any) -> dict[str, Any]:
    provider: dict[str, Any] = {"name": name, "kind": "openai", "base_url": f"{url}/v1",
                                "api_key": SIM_KEY, "read_timeout": "10s", **extra}
    if directive:
        provider["headers"] = {"x-sim-directive": directive}
    return provider


def _model(name: str, *deployments: tuple[str, str, float], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "deployments": [
            {"provider": provider, "upstream_model": upstream, "weight": weight}
            for provider, upstream, weight in deployments
        ],
        "price": {"input": 1.0, "output": 2.0},
        **extra,
    }


# Deterministic order for the failure tests: the failing deployment first, a standby after it,
# and no cooldown in between (every call sees the same first attempt).
STEADY = {"cooldown_failures": 1000}


def routing_config(sim_url: str, victim_url: str, redis_url: str) -> dict[str, Any]:
    dead = f"http://127.0.0.1:{free_port()}"
    return {
        "admin_key": ADMIN,
        "redis_url": redis_url,
        "providers": [
            _provider("ok", sim_url),
            _provider("err500", sim_url, "error=500"),
            _provider("err429", sim_url, "error=429"),
            _provider("slow", sim_url, "ttft_ms=3000"),
            _provider("fast", sim_url, "ttft_ms=5"),
            _provider("lagging", sim_url, "ttft_ms=150"),
            _provider("dead", dead, connect_timeout="1s"),
            _provider("victim", victim_url),
            {"name": "claude", "kind": "anthropic", "base_url": sim_url, "api_key": SIM_KEY},
        ],
        "models": [
            _model("r-5xx", ("err500", "up-500", 1), ("ok", "up-5xx-ok", 0), **STEADY),
            _model("r-429", ("err429", "up-429", 1), ("ok", "up-429-ok", 0), **STEADY),
            _model("r-fbt", ("slow", "up-slow", 1), ("ok", "up-fbt-ok", 0),
                   first_byte_timeout="500ms", **STEADY),
            _model("r-fallback", ("err500", "up-500", 1), fallbacks=["r-target"], **STEADY),
            _model("r-target", ("ok", "up-target", 1), price={"input": 5.0, "output": 7.0}),
            _model("r-fallback-claude", ("err500", "up-500", 1), fallbacks=["r-claude"],
                   **STEADY),
            _model("r-claude", ("claude", "up-claude", 1)),
            _model("r-midstream", ("ok", "up-mid-a", 1), ("ok", "up-mid-b", 0)),
            _model("r-leave", ("slow", "up-leave-a", 1), ("ok", "up-leave-b", 0),
                   first_byte_timeout="1s", **STEADY),
            _model("r-backoff", ("err429", "up-backoff", 1), retries=1, **STEADY),
            _model("r-weighted", ("ok", "up-w3", 3), ("ok", "up-w1", 1)),
            _model("r-least", ("ok", "up-l1", 1), ("ok", "up-l2", 1), routing="least_inflight"),
            _model("r-ttft", ("lagging", "up-lag", 1), ("fast", "up-fast", 1),
                   routing="lowest_ttft"),
            _model("r-kill", ("victim", "up-kill-v", 1), ("ok", "up-kill-h", 1),
                   cooldown_failures=2, cooldown="60s"),
            _model("r-shared", ("dead", "up-dead", 1), ("ok", "up-shared", 1),
                   cooldown_failures=1, cooldown="60s"),
        ],
        "workloads": [{"name": "routing", "keys": [KEY]}],
    }


@pytest.fixture(scope="session")
def victim(tmp_session: Path) -> Iterator[ServerProcess]:
    """A simulator 5 s from its first token: calls on it have no byte when it is killed."""
    server = start_sim(tmp_session, "--ttft-ms", "5000")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def routing_setup(redis_server: str, sim: ServerProcess, victim: ServerProcess) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_server)
    try:
        stale = list(client.scan_iter("gateway:cooldown:*"))
        if stale:
            client.delete(*stale)
    finally:
        client.close()
    return routing_config(sim.url, victim.url, redis_server)


@pytest.fixture(scope="session")
def routed(tmp_session: Path, routing_setup: dict[str, Any]) -> Iterator[ServerProcess]:
    server = start_gateway(tmp_session, dict(routing_setup))
    yield server
    server.stop()
