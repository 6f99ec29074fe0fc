"""Shared fixtures: a running simulator and gateway (real processes, loopback only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.servers import ServerProcess, gateway_config, start_gateway, start_sim
from tests.services import PostgresDatabases, check_redis, postgres_url, redis_url


@pytest.fixture(scope="session")
def tmp_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def sim(tmp_session: Path) -> Iterator[ServerProcess]:
    server = start_sim(tmp_session, "--ttft-ms", "20", "--tokens-per-second", "200",
                       "--output-tokens", "12")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway(tmp_session: Path, sim: ServerProcess) -> Iterator[ServerProcess]:
    server = start_gateway(tmp_session, gateway_config(sim.url))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    """Throwaway Postgres databases (`postgres.new()` -> URL), dropped at the end; skipped (or
    failed under GATEWAY_TEST_REQUIRE_SERVICES=1) when Postgres is unreachable."""
    databases = PostgresDatabases(postgres_url())
    databases.check()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The test Redis URL; skipped (or failed, as above) when Redis is unreachable."""
    url = redis_url()
    check_redis(url)
    return url


@pytest.fixture
def client(gateway: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-chat", max_retries=0,
                         timeout=10)


def sim_records(sim: ServerProcess, tag: str) -> list[dict]:
    response = httpx.get(f"{sim.url}/_sim/stats", params={"tag": tag}, timeout=5)
    response.raise_for_status()
    return response.json()["requests"]
