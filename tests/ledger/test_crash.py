"""SIGKILL under load: after a restart every call the client saw answered is in the ledger
exactly once, and every stream that was in flight has a row (failed, `interrupted`)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from gateway.ledger.database import build_engine
from gateway.ledger.models import calls
from tests.ledger.live import start_ledger_gateway, wait_until
from tests.servers import ServerProcess
from tests.services import PostgresDatabases

CHAT = {"authorization": "Bearer key-chat"}
QUICK = "hello [sim tokens=4 ttft_ms=0]"
LONG_STREAM = "tell me more [sim tokens=30 tps=30 ttft_ms=0]"  # about a second


class Load:
    """Chat calls at a fixed rate from a thread pool: every other one a long stream."""

    def __init__(self, url: str, rate: float) -> None:
        self.url = url
        self.interval = 1.0 / rate
        self.answered: set[str] = set()  # 200 non-stream bodies, streams that saw [DONE]
        self.in_flight: set[str] = set()  # streams with headers and no [DONE] (yet)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.client = httpx.Client(
            headers=CHAT, timeout=10, limits=httpx.Limits(max_connections=200)
        )
        self.pool = ThreadPoolExecutor(max_workers=80)
        self.thread = threading.Thread(target=self._schedule, daemon=True)

    def start(self) -> Load:
        self.thread.start()
        return self

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return len(self.answered), len(self.in_flight)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def _schedule(self) -> None:
        sent = 0
        started = time.monotonic()
        while not self.stop.is_set():
            self.pool.submit(self._stream if sent % 2 else self._unary)
            sent += 1
            delay = started + sent * self.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _body(self, content: str, stream: bool) -> dict[str, object]:
        return {"model": "gpt-test", "stream": stream,
                "messages": [{"role": "user", "content": content}]}

    def _unary(self) -> None:
        if self.stop.is_set():
            return
        try:
            response = self.client.post(
                f"{self.url}/v1/chat/completions", json=self._body(QUICK, False)
            )
        except httpx.HTTPError:
            return
        if response.status_code == 200 and response.json()["choices"]:
            with self.lock:
                self.answered.add(response.headers["x-gateway-request-id"])

    def _stream(self) -> None:
        if self.stop.is_set():
            return
        try:
            with self.client.stream(
                "POST", f"{self.url}/v1/chat/completions", json=self._body(LONG_STREAM, True)
            ) as response:
                if response.status_code != 200:
                    return
                call_id = response.headers["x-gateway-request-id"]
                with self.lock:
                    self.in_flight.add(call_id)
                for line in response.iter_lines():
                    if line.strip() == "data: [DONE]":
                        with self.lock:
                            self.in_flight.discard(call_id)
                            self.answered.add(call_id)
        except httpx.HTTPError:
            return  # the gateway died mid-stream: the id stays in flight


def ledger_rows(database_url: str) -> dict[str, tuple[str, str | None, int]]:
    """{id: (status, cancel_reason, how many rows have that id)} read from the database."""

    async def read() -> dict[str, tuple[str, str | None, int]]:
        engine = build_engine(database_url)
        try:
            async with engine.connect() as conn:
                query = select(
                    calls.c.id, calls.c.status, calls.c.cancel_reason, func.count()
                ).group_by(calls.c.id, calls.c.status, calls.c.cancel_reason)
                return {row[0]: (row[1], row[2], row[3]) for row in await conn.execute(query)}
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.mark.parametrize(("kind", "rate", "answered_before_kill"),
                         [("postgres", 50.0, 80), ("sqlite", 25.0, 20)])
def test_sigkill_under_load_loses_no_answered_call(
    tmp_path: Path, sim: ServerProcess, postgres: PostgresDatabases,
    kind: str, rate: float, answered_before_kill: int,
) -> None:
    database = postgres.new() if kind == "postgres" else f"sqlite+aiosqlite:///{tmp_path}/crash.db"
    first = start_ledger_gateway(tmp_path, sim.url, database)
    load = Load(first.url, rate).start()
    try:
        wait_until(
            lambda: load.counts()[0] >= answered_before_kill and load.counts()[1] >= 4,
            within=20, what="answered calls and streams in flight",
        )
        first.proc.kill()  # SIGKILL: no shutdown, no flush
        first.proc.wait(5)
    finally:
        load.finish()
        first.stop()
    answered, in_flight = set(load.answered), set(load.in_flight)
    assert in_flight and answered

    second = start_ledger_gateway(tmp_path, sim.url, database)
    try:
        expected = answered | in_flight
        with contextlib.suppress(AssertionError):
            wait_until(lambda: expected <= set(ledger_rows(database)), within=20,
                       what="every answered and in-flight call in the ledger")
        rows = ledger_rows(database)
        lost = answered - rows.keys()
        assert not lost, f"{len(lost)} of {len(answered)} answered calls are not in the ledger"
        unrecorded = in_flight - rows.keys()
        assert not unrecorded, f"{len(unrecorded)} of {len(in_flight)} streams in flight: no row"
        assert all(rows[call_id][2] == 1 for call_id in expected)
        assert all(rows[call_id][0] == "completed" for call_id in answered)
        # A stream whose last event was on its way when the process died is complete in the
        # ledger (its end was journaled first); the others were cut off: failed, interrupted.
        cut = {rows[call_id][:2] for call_id in in_flight} - {("completed", None)}
        assert cut == {("failed", "interrupted")}
        journals = [p for p in tmp_path.rglob("*.journal") if p.stat().st_size]
        assert len(journals) <= 1  # only the running gateway's own
    finally:
        second.stop()
    assert not list(tmp_path.rglob("*.journal"))  # a clean shutdown leaves no journal behind
