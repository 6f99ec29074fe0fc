"""Fixtures for the batch lane's tests: a simulator with a short batch delay, and one gateway
on Postgres and Redis shared by the tests that need no process of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gateway.ledger.service import database_tag
from tests.servers import ServerProcess, start_sim
from tests.services import PostgresDatabases

from .helpers import SIM_ARGS, batch_config, start_batch_gateway


@pytest.fixture(scope="session")
def batch_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_sim(tmp_path_factory.mktemp("batch-sim"), *SIM_ARGS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def batch_db(postgres: PostgresDatabases) -> str:
    return postgres.new()


@pytest.fixture(scope="session")
def batch_gateway(
    tmp_path_factory: pytest.TempPathFactory,
    batch_sim: ServerProcess,
    batch_db: str,
    redis_server: str,
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("batch-gateway")
    config = batch_config(batch_sim.url, batch_db, redis_server, batch_file_max_bytes=8192)
    server = start_batch_gateway(tmp, config)
    yield server
    server.stop()
    forget_queue(redis_server, batch_db)


def forget_queue(redis_url: str, database_url: str) -> None:
    """Delete the batch queue keys a test's gateways left in a shared Redis."""
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"gateway:batch:{database_tag(database_url)}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path
