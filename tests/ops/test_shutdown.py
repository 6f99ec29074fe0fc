"""Graceful shutdown: on SIGTERM the gateway turns not-ready, refuses new connections, lets open
streams finish within `shutdown_grace`, and flushes the ledger before it exits."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import httpx
import openai
import pytest

from gateway.config import load_settings
from gateway.ledger import NullLedger
from gateway.shutdown import on_termination
from gateway.state import GatewayState
from tests.ops.traffic import sdk
from tests.servers import ServerProcess, gateway_config, start_gateway


def ledger_row(server: ServerProcess, call_id: str) -> dict | None:
    database = Path(server.log.parent, f"gateway-{server.port}.db")
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
    return None if row is None else dict(row)


def new_call_turned_away(url: str) -> bool:
    """A new connection is refused, or answered 503."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 503
    except httpx.TransportError:
        return True


def open_stream(server: ServerProcess, tokens: int, tps: int):
    message = f"count slowly [sim tokens={tokens} tps={tps}]"
    stream = sdk(server.url, "key-chat").chat.completions.create(
        model="gpt-test", stream=True, messages=[{"role": "user", "content": message}]
    )
    chunks = iter(stream)
    first = next(chunks)  # the stream is open at the gateway and the upstream
    return stream, [first, *_take(chunks, 2)], chunks


def _take(chunks, n: int) -> list:
    return [next(chunks) for _ in range(n)]


def wait_exit(server: ServerProcess, timeout: float) -> float:
    started = time.monotonic()
    server.proc.wait(timeout=timeout)
    return time.monotonic() - started


@pytest.mark.parametrize("workers", ["1", "2"])
def test_open_stream_finishes_and_lands_in_the_ledger(tmp_path, sim, workers) -> None:
    server = start_gateway(
        tmp_path, gateway_config(sim.url, shutdown_grace="15s"), "--workers", workers
    )
    try:
        stream, received, rest = open_stream(server, tokens=40, tps=20)  # about 2 s
        call_id = stream.response.headers["x-gateway-request-id"]
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert new_call_turned_away(server.url)
        received += list(rest)
        finish = [c.choices[0].finish_reason for c in received if c.choices]
        assert finish[-1] == "stop"
        text = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
        assert len(text.split()) == 40
        wait_exit(server, timeout=20)
        row = ledger_row(server, call_id)
        assert row is not None, server.output()
        assert row["status"] == "completed" and row["completion_tokens"] == 40
        assert "Waiting for connections to close" in server.output()
    finally:
        server.stop()


def test_grace_period_bounds_the_wait(tmp_path, sim) -> None:
    server = start_gateway(tmp_path, gateway_config(sim.url, shutdown_grace="1s"))
    try:
        stream, _received, rest = open_stream(server, tokens=400, tps=20)  # 20 s
        call_id = stream.response.headers["x-gateway-request-id"]
        server.proc.send_signal(signal.SIGTERM)
        with pytest.raises(openai.APIError) as cut:
            list(rest)  # cut when the grace period ran out: an error event ends the stream
        assert "shutting down" in str(cut.value)
        assert wait_exit(server, timeout=15) < 10
        row = ledger_row(server, call_id)
        assert row is not None, server.output()  # flushed after the grace period ran out
        assert row["completion_tokens"] < 400
        assert "timeout graceful shutdown exceeded" in server.output()
        assert row["status"] == "cancelled" and row["cancel_reason"] == "shutdown"
        assert "Traceback" not in server.output()
    finally:
        server.stop()


async def test_sigterm_turns_readiness_off_at_once() -> None:
    """In-process: the hook chains onto the handler in place (uvicorn's) and flips /readyz."""
    seen: list[int] = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    state = GatewayState(load_settings(env={}), NullLedger())
    try:
        await state.start()
        undo = on_termination(state.begin_shutdown)
        assert all((await state.readiness()).values())
        signal.raise_signal(signal.SIGTERM)
        checks = await state.readiness()
        assert checks["accepting"] is False and seen == [signal.SIGTERM]
        undo()
        signal.raise_signal(signal.SIGTERM)  # the previous handler is back in place
        assert seen == [signal.SIGTERM, signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, original)
        await state.close()
