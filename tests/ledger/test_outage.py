"""The database goes away while calls flow (its connections refused and dropped by a proxy of
our own) and comes back: every call ends up in the ledger exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import make_url

from gateway.ledger.service import database_tag
from tests.ledger.live import metric, start_ledger_gateway, stored_ids, through, wait_until
from tests.ledger.tcp_proxy import TcpProxy
from tests.servers import ServerProcess
from tests.services import PostgresDatabases

CHAT = {"authorization": "Bearer key-chat"}


@pytest.fixture
def database(postgres: PostgresDatabases) -> str:
    return postgres.new()


@pytest.fixture
def proxy(database: str) -> Iterator[TcpProxy]:
    target = make_url(database)
    running = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    yield running
    running.stop()


def call(gw: ServerProcess, tokens: int = 2) -> str:
    response = httpx.post(
        f"{gw.url}/v1/chat/completions",
        headers=CHAT,
        timeout=10,
        json={
            "model": "gpt-test",
            "messages": [{"role": "user", "content": f"hi [sim tokens={tokens} ttft_ms=0]"}],
        },
    )
    assert response.status_code == 200, response.text
    return response.headers["x-gateway-request-id"]


def pending(gw: ServerProcess) -> float:
    return metric(gw, "gateway_ledger_pending") or 0.0


def test_calls_during_an_outage_are_recorded_exactly_once(
    tmp_path: Path, sim: ServerProcess, database: str, proxy: TcpProxy
) -> None:
    gw = start_ledger_gateway(tmp_path, sim.url, through(database, proxy.port))
    ids: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            ids.append(call(gw))

    flowing = threading.Thread(target=traffic)
    try:
        flowing.start()
        wait_until(lambda: len(ids) >= 10, what="traffic before the outage")
        proxy.down()
        during = len(ids)
        wait_until(lambda: len(ids) >= during + 15, what="traffic during the outage")
        wait_until(lambda: pending(gw) > 0, what="a backlog while the database is down")
        proxy.up()
        after = len(ids)
        wait_until(lambda: len(ids) >= after + 10, what="traffic after the outage")
        stop.set()
        flowing.join(10)
        wait_until(lambda: pending(gw) == 0, within=20, what="the backlog to drain")
        stored = stored_ids(database)
        assert len(stored) == len(set(stored)) == len(ids)
        assert set(stored) == set(ids)
        assert "ledger database unavailable" in gw.output()
    finally:
        stop.set()
        gw.stop()


def test_the_spool_replays_after_a_restart(
    tmp_path: Path, sim: ServerProcess, database: str, proxy: TcpProxy
) -> None:
    url = through(database, proxy.port)
    first = start_ledger_gateway(tmp_path, sim.url, url)
    proxy.down()
    ids = [call(first) for _ in range(6)]
    first.stop()  # shutdown spools whatever the database did not take
    spool = tmp_path / f"gateway-ledger-{database_tag(url)}.spool"
    # A retry during the outage may have moved the spool aside (`.replaying`) before it failed.
    spooled = [p for p in (spool, spool.with_name(spool.name + ".replaying")) if p.exists()]
    assert sum(len(p.read_bytes().splitlines()) for p in spooled) == 6
    assert stored_ids(database) == []
    proxy.up()
    second = start_ledger_gateway(tmp_path, sim.url, url)
    try:
        wait_until(lambda: len(stored_ids(database)) == 6, what="the spool to replay")
        assert sorted(stored_ids(database)) == sorted(ids)
        wait_until(lambda: not any(p.exists() for p in spooled), what="the spool files to go")
    finally:
        second.stop()


def test_redis_holds_the_backlog_when_configured(
    tmp_path: Path, sim: ServerProcess, database: str, proxy: TcpProxy, redis_server: str
) -> None:
    url = through(database, proxy.port)
    gw = start_ledger_gateway(tmp_path, sim.url, url, redis_url=redis_server)
    spool_key = f"gateway:ledger:spool:{database_tag(url)}"
    client = redis.Redis.from_url(redis_server)
    try:
        proxy.down()
        ids = [call(gw) for _ in range(5)]
        wait_until(lambda: client.llen(spool_key) == 5, what="rows in the Redis spool")
        assert not list(tmp_path.glob("gateway-ledger-*.spool"))
        proxy.up()
        wait_until(lambda: len(stored_ids(database)) == 5, what="the Redis spool to replay")
        assert sorted(stored_ids(database)) == sorted(ids)
        assert client.llen(spool_key) == 0
    finally:
        gw.stop()
        client.delete(spool_key)
        client.close()
