"""Postgres and Redis for integration tests: used where reachable, else skipped with the reason.

With `GATEWAY_TEST_REQUIRE_SERVICES=1` (set by `.ci/run`) a missing service fails the test
instead. URLs: `GATEWAY_TEST_DATABASE_URL` (a Postgres database whose user may create
databases; each test gets a throwaway one) and `GATEWAY_TEST_REDIS_URL`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import NoReturn

import pytest
from sqlalchemy import make_url

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def services_required() -> bool:
    return os.environ.get("GATEWAY_TEST_REQUIRE_SERVICES") == "1"


def unavailable(service: str, url: str, reason: object) -> NoReturn:
    """Skip (or, when services are required, fail) because `service` cannot be used."""
    shown = make_url(url).render_as_string(hide_password=True) if "://" in url else url
    message = f"{service} unavailable at {shown}: {reason}"
    if services_required():
        pytest.fail(message + " (GATEWAY_TEST_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def postgres_url() -> str:
    url = os.environ.get("GATEWAY_TEST_DATABASE_URL") or DEFAULT_POSTGRES
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def redis_url() -> str:
    return os.environ.get("GATEWAY_TEST_REDIS_URL") or DEFAULT_REDIS


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database or "postgres",
        timeout=5,
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class PostgresDatabases:
    """Creates throwaway databases next to the configured one and drops them at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.created: list[str] = []

    def check(self) -> None:
        try:
            asyncio.run(_admin(self.url, "SELECT 1"))
        except Exception as exc:  # any failure to connect means "not reachable"
            unavailable("Postgres", self.url, exc)

    def new(self) -> str:
        """The URL of a new, empty database."""
        name = f"gw_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(self.url, f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.created:
            asyncio.run(_admin(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.clear()


def check_redis(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        unavailable("Redis", url, exc)
