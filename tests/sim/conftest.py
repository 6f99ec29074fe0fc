"""Fixtures: a simulator served by uvicorn in a background thread on a free port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.sim import SimOptions, create_sim_app


@dataclass
class RunningSim:
    """A simulator listening on 127.0.0.1:`port`."""

    port: int
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self, tag: str | None = None) -> list[dict[str, Any]]:
        params = {"tag": tag} if tag is not None else None
        response = httpx.get(f"{self.url}/_sim/stats", params=params)
        response.raise_for_status()
        return response.json()["requests"]

    def record(self, tag: str, settle: Callable[[dict[str, Any]], bool] | None = None) -> dict:
        """The one record tagged `tag`, waiting (briefly) until `settle` holds for it."""
        deadline = time.monotonic() + 3
        while True:
            records = self.stats(tag)
            if len(records) == 1 and (settle is None or settle(records[0])):
                return records[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no settled record for tag {tag!r}: {records}")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def start_sim(**overrides: Any) -> RunningSim:
    """Serve a new simulator with `overrides` of SimOptions on a free port."""
    options = SimOptions(port=0, **overrides)
    config = uvicorn.Config(
        create_sim_app(options),
        host="127.0.0.1",
        port=0,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    sock = config.bind_socket()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("simulator did not start")
        time.sleep(0.005)
    return RunningSim(sock.getsockname()[1], server, thread)


@pytest.fixture(scope="session")
def sim() -> Iterator[RunningSim]:
    """A fast simulator shared by the tests: no first-token delay, 1,000 tokens/s."""
    running = start_sim(ttft_ms=0, tokens_per_second=1000)
    yield running
    running.stop()


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., RunningSim]]:
    """Start simulators with specific options; all are stopped after the test."""
    started: list[RunningSim] = []

    def factory(**overrides: Any) -> RunningSim:
        running = start_sim(**overrides)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()
