"""Delivery re-checks a callback URL: against the allowlist of the moment, the addresses its
name resolves to, and no redirects; a refused delivery ends `failed` with the reason.

A unit test of the `Deliverer`: a real HTTP receiver on loopback, the store recorded in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gateway.batch.allowlist import Allowlist
from gateway.batch.webhooks import Deliverer, verify

from .helpers import HOOK_SECRET, Receiver


@dataclass
class Recorded:
    deliveries: list[tuple[str, str, int, float | None, str | None]] = field(default_factory=list)

    async def record_delivery(
        self, call_id: str, state: str, attempts: int, retry_in: float | None, error: str | None
    ) -> None:
        self.deliveries.append((call_id, state, attempts, retry_in, error))


@dataclass
class Row:
    callback_url: str
    id: str = "call1"
    delivery_attempts: int = 0


async def describe(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "status": "completed"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(follow_redirects=False)
    yield client
    await client.aclose()


@pytest.fixture
def receiver() -> Any:
    hook = Receiver()
    yield hook
    hook.close()


def port_of(receiver: Receiver) -> int:
    return receiver.server.server_address[1]


async def deliver(
    http: httpx.AsyncClient, url: str, hosts: list[str], allow_private: bool = False
) -> tuple[str, int, float | None, str | None]:
    store = Recorded()
    deliverer = Deliverer(
        HOOK_SECRET, 8, store, describe, http, Allowlist(hosts, allow_private)  # type: ignore[arg-type]
    )
    await deliverer._deliver(Row(url))  # type: ignore[arg-type]
    ((_, state, attempts, retry_in, error),) = store.deliveries
    return state, attempts, retry_in, error


async def test_an_ip_literal_entry_delivers_to_that_private_address(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    port = port_of(receiver)
    state, _, _, error = await deliver(http, receiver.url, [f"127.0.0.1:{port}"])
    assert (state, error) == ("delivered", None)
    ((headers, body, _),) = receiver.received
    assert verify(HOOK_SECRET, body, headers["x-gateway-signature"], headers["x-gateway-timestamp"])


async def test_a_url_the_allowlist_no_longer_allows_is_refused_without_a_request(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    state, attempts, retry_in, error = await deliver(http, receiver.url, ["hooks.example"])
    assert (state, attempts, retry_in) == ("failed", 1, None)
    assert error is not None and "callback_allowed_hosts" in error
    assert receiver.received == []


async def test_a_name_resolving_to_a_private_address_is_refused_unless_allowed(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    port = port_of(receiver)
    url = f"http://localhost:{port}/hook"
    state, _, retry_in, error = await deliver(http, url, [f"localhost:{port}"])
    assert (state, retry_in) == ("failed", None)
    assert error is not None and "private address" in error and "callback_allow_private" in error
    assert receiver.received == []
    state, _, _, error = await deliver(http, url, [f"localhost:{port}"], allow_private=True)
    assert (state, error) == ("delivered", None)
    ((headers, _, _),) = receiver.received
    assert headers["host"] == f"localhost:{port}"  # sent to the checked address, named as asked


async def test_a_redirect_is_not_followed_and_ends_the_delivery(
    http: httpx.AsyncClient,
) -> None:
    hook = Receiver(statuses=[302])
    try:
        state, _, _, error = await deliver(http, hook.url, [f"127.0.0.1:{port_of(hook)}"])
        assert state == "failed" and error is not None and "redirects are not followed" in error
        assert len(hook.received) == 1
    finally:
        hook.close()


async def test_a_receiver_error_is_retried_later(
    http: httpx.AsyncClient,
) -> None:
    hook = Receiver(statuses=[503])
    try:
        state, attempts, retry_in, error = await deliver(
            http, hook.url, [f"127.0.0.1:{port_of(hook)}"]
        )
        assert (state, attempts, retry_in) == ("pending", 1, 1.0)
        assert error == "the receiver answered HTTP 503"
    finally:
        hook.close()
