"""Open mode is explicit and sticky: only with no key ever configured or stored, only on a
loopback address, and said in the log. Keys that cannot be read fail closed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url

from tests.ledger.live import ADMIN, through, wait_until
from tests.ledger.tcp_proxy import TcpProxy
from tests.servers import ServerProcess, gateway_config, start_gateway
from tests.services import PostgresDatabases

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi [sim ttft_ms=0]"}]}


def keyless_config(sim_url: str, tmp: Path, **extra: Any) -> dict[str, Any]:
    """The test config with no workload keys, on a database of its own in `tmp`."""
    extra.setdefault("database_url", f"sqlite+aiosqlite:///{tmp}/ledger.db")
    extra.setdefault("workloads", [])
    return gateway_config(sim_url, **extra)


def chat(gw: ServerProcess, key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=headers, timeout=10)


def create_key(gw: ServerProcess, workload: str = "team-a") -> dict[str, Any]:
    response = httpx.post(f"{gw.url}/v1/gateway/keys", json={"workload": workload},
                          headers=ADMIN, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def warnings(gw: ServerProcess) -> list[str]:
    return [line for line in gw.output().splitlines() if " WARNING " in line]


def said_open(gw: ServerProcess) -> bool:
    return any("open mode: " in line for line in warnings(gw))


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Gateways a test starts, stopped at its end."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def test_open_on_loopback_says_so(tmp_path: Path, sim: ServerProcess, servers) -> None:
    gw = start_gateway(tmp_path, keyless_config(sim.url, tmp_path))
    servers.append(gw)
    reply = chat(gw)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]
    (line,) = [w for w in warnings(gw) if "open mode: " in w]
    assert "loopback" in line and "workload 'default'" in line and "POST /v1/gateway/keys" in line


def test_not_loopback_and_no_key_is_closed(tmp_path: Path, sim: ServerProcess, servers) -> None:
    gw = start_gateway(tmp_path, keyless_config(sim.url, tmp_path), "--host", "0.0.0.0")
    servers.append(gw)
    reply = chat(gw)  # bound to every interface, called through 127.0.0.1
    assert reply.status_code == 401
    assert "POST /v1/gateway/keys" in reply.json()["error"]["message"]
    assert any("no API key is configured" in w and "0.0.0.0" in w for w in warnings(gw))
    assert any("/metrics is public" in w for w in warnings(gw))
    assert not said_open(gw)


def test_revoking_the_last_key_does_not_reopen(
    tmp_path: Path, sim: ServerProcess, servers
) -> None:
    config = keyless_config(sim.url, tmp_path)
    gw = start_gateway(tmp_path, dict(config))
    servers.append(gw)
    assert chat(gw).status_code == 200
    new = create_key(gw)
    assert chat(gw).status_code == 401
    assert chat(gw, new["key"]).status_code == 200
    revoked = httpx.delete(f"{gw.url}/v1/gateway/keys/{new['id']}", headers=ADMIN, timeout=10)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert chat(gw).status_code == 401
    assert chat(gw, new["key"]).status_code == 401
    assert any("open mode ended" in line for line in gw.output().splitlines())
    gw.stop()

    again = start_gateway(tmp_path, dict(config))  # the same database, a new process
    servers.append(again)
    assert chat(again).status_code == 401
    assert chat(again, new["key"]).status_code == 401
    assert not said_open(again)


def test_a_key_that_interpolates_to_empty_still_closes(
    tmp_path: Path, sim: ServerProcess, servers
) -> None:
    workloads = [{"name": "etl", "keys": ["${GATEWAY_TEST_NEVER_SET_KEY:-}"]}]
    gw = start_gateway(tmp_path, keyless_config(sim.url, tmp_path, workloads=workloads))
    servers.append(gw)
    reply = chat(gw)
    assert reply.status_code == 401, reply.text
    assert chat(gw, "").status_code == 401
    assert any("workloads[0].keys[0]" in w and "empty" in w for w in warnings(gw))
    assert not said_open(gw)


@pytest.fixture
def database(postgres: PostgresDatabases) -> str:
    return postgres.new()


@pytest.fixture
def proxy(database: str) -> Iterator[TcpProxy]:
    target = make_url(database)
    running = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    yield running
    running.stop()


@pytest.mark.timeout(120)
def test_stored_keys_unreadable_at_start_fail_closed(
    tmp_path: Path, sim: ServerProcess, database: str, proxy: TcpProxy, servers
) -> None:
    config = keyless_config(sim.url, tmp_path, database_url=through(database, proxy.port))
    with contextlib.chdir(tmp_path):  # where a Postgres ledger's spool file goes
        first = start_gateway(tmp_path, dict(config))
        servers.append(first)
        new = create_key(first)
        first.stop()
        proxy.down()
        gw = start_gateway(tmp_path, dict(config))
        servers.append(gw)
    keyless = chat(gw)
    assert keyless.status_code == 503, keyless.text
    assert keyless.json()["error"]["code"] == "keys_unavailable"
    assert chat(gw, new["key"]).status_code == 503  # cannot be checked yet
    assert chat(gw, "admin-secret").status_code == 200  # the admin key does not need the table
    messages = httpx.post(f"{gw.url}/v1/messages", timeout=10, json={
        "model": "claude-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert messages.status_code == 503 and messages.json()["type"] == "error"
    assert any(" ERROR " in line and "failing closed" in line for line in gw.output().splitlines())

    proxy.up()
    wait_until(lambda: chat(gw).status_code == 401, within=30, what="the keys to be read")
    assert chat(gw, new["key"]).status_code == 200
    assert not said_open(gw)
