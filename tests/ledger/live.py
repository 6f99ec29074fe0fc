"""Helpers for the ledger's end-to-end tests: a gateway process on a given database."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import make_url, select

from gateway.ledger.database import build_engine
from gateway.ledger.models import calls
from tests.servers import ServerProcess, gateway_config, start_gateway

ADMIN = {"authorization": "Bearer admin-secret"}


def start_ledger_gateway(tmp: Path, sim_url: str, database_url: str, **extra: Any) -> ServerProcess:
    """A gateway on `database_url`, run from `tmp` (so a Postgres spool file lands there)."""
    with contextlib.chdir(tmp):
        return start_gateway(tmp, gateway_config(sim_url, database_url=database_url, **extra))


def read_then_close(stream: Any, pieces: int) -> None:
    """Read an OpenAI chat stream until `pieces` content chunks arrived, then leave."""
    seen = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen += 1
            if seen == pieces:
                break
    stream.close()


def config_path(tmp: Path, gateway: ServerProcess) -> Path:
    return tmp / f"gateway-{gateway.port}.yaml"


def fetch_record(
    gateway: ServerProcess, call_id: str, headers: dict[str, str] = ADMIN, within: float = 8.0
) -> dict[str, Any]:
    """The ledger record of `call_id`, waiting for the writer's next batch."""
    deadline = time.monotonic() + within
    while True:
        response = httpx.get(f"{gateway.url}/v1/gateway/requests/{call_id}", headers=headers)
        if response.status_code == 200:
            return response.json()
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no ledger record {call_id}: {response.status_code} "
                f"{response.text}\n{gateway.output()[-2000:]}"
            )
        time.sleep(0.05)


def metric(gateway: ServerProcess, name: str, **labels: str) -> float | None:
    text = httpx.get(f"{gateway.url}/metrics").text
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def wait_until(predicate: Any, within: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within}s")
        time.sleep(0.05)


def stored_ids(database_url: str) -> list[str]:
    """Every call id in the ledger (read directly, not through the gateway)."""

    async def read() -> list[str]:
        engine = build_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(select(calls.c.id))).scalars())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def through(database_url: str, port: int) -> str:
    """`database_url` with its host and port replaced by a local proxy's."""
    return (
        make_url(database_url)
        .set(host="127.0.0.1", port=port)
        .render_as_string(hide_password=False)
    )
