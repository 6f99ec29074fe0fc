"""The upstream client through a running gateway: a POST the provider read is never sent again,
and a call that finds every pooled connection busy fails in the caller's shape, not a hang."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from tests.conftest import sim_records
from tests.ledger.live import wait_until
from tests.servers import SIM_KEY, ServerProcess, gateway_config, start_gateway


class ResettingUpstream:
    """A loopback server that reads each POST whole, then resets the connection unanswered."""

    def __init__(self) -> None:
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            await reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        self.requests += 1
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def resetting() -> Iterator[ResettingUpstream]:
    server = ResettingUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def pool_gateway(
    tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess, resetting: ResettingUpstream
) -> Iterator[ServerProcess]:
    config = gateway_config(sim.url)
    config["providers"] += [
        {"name": "resetting", "kind": "openai", "api_key": "sk-resetting-upstream",
         "base_url": f"http://127.0.0.1:{resetting.port}/v1"},
        {"name": "one-connection", "kind": "openai", "base_url": f"{sim.url}/v1",
         "api_key": SIM_KEY, "max_connections": 1, "pool_timeout": "300ms"},
    ]
    config["models"] += [
        {"name": "reset-model", "provider": "resetting"},
        {"name": "narrow-gpt", "provider": "one-connection", "upstream_model": "sim-gpt"},
    ]
    server = start_gateway(tmp_path_factory.mktemp("pool-gateway"), config)
    yield server
    server.stop()


def client(gateway: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-chat", max_retries=0,
                         timeout=20)


@pytest.mark.parametrize("stream", [False, True])
def test_a_post_the_provider_read_and_reset_is_a_502_sent_exactly_once(
    pool_gateway: ServerProcess, resetting: ResettingUpstream, stream: bool
) -> None:
    before = resetting.requests
    with pytest.raises(openai.APIStatusError) as caught:
        client(pool_gateway).chat.completions.create(
            model="reset-model", messages=[{"role": "user", "content": "once"}], stream=stream
        )
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "upstream_error"  # type: ignore[index]
    assert resetting.requests == before + 1


def test_a_call_finding_every_pooled_connection_busy_fails_fast_with_a_503(
    pool_gateway: ServerProcess, sim: ServerProcess
) -> None:
    holder_tag = uuid.uuid4().hex[:12]
    c = client(pool_gateway)

    def hold() -> str | None:
        done = c.chat.completions.create(
            model="narrow-gpt",
            messages=[{"role": "user", "content": f"slow [sim tag={holder_tag} ttft_ms=3000]"}],
        )
        return done.choices[0].message.content

    with ThreadPoolExecutor(1) as pool:
        holding = pool.submit(hold)
        wait_until(lambda: sim_records(sim, holder_tag), 10, "the first call to reach the sim")
        with pytest.raises(openai.APIStatusError) as caught:
            c.chat.completions.create(
                model="narrow-gpt", messages=[{"role": "user", "content": "no room"}]
            )
        assert caught.value.status_code == 503
        assert caught.value.code == "upstream_pool_exhausted"
        assert "pool_timeout" in caught.value.message
        assert not holding.done()  # refused while the first call still held the connection
        assert holding.result(timeout=15)  # which then finished normally
