"""Callbacks: the finished call's record POSTed, signed, and retried after a failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.batch.webhooks import verify
from tests.servers import ServerProcess

from .helpers import HOOK_PORT, HOOK_SECRET, Receiver, defer, record, wait_until


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver(statuses=[500], port=HOOK_PORT)  # the first delivery fails
    yield hook
    hook.close()


@pytest.mark.parametrize("model", ["native-gpt", "emu-gpt"])
def test_a_signed_callback_is_retried_until_delivered(
    batch_gateway: ServerProcess, receiver: Receiver, model: str
) -> None:
    call_id = defer(
        batch_gateway, model, "call me back", headers={"x-gateway-callback-url": receiver.url}
    )
    wait_until(lambda: len(receiver.received) >= 2, 20, "two deliveries")
    for headers, body, _status in receiver.received:
        assert headers["content-type"] == "application/json"
        assert headers["x-gateway-request-id"] == call_id
        assert headers["x-gateway-signature"].startswith("sha256=")
        assert verify(
            HOOK_SECRET, body, headers["x-gateway-signature"], headers["x-gateway-timestamp"]
        )
        assert not verify(
            "wrong-secret", body, headers["x-gateway-signature"], headers["x-gateway-timestamp"]
        )
    assert [status for _, _, status in receiver.received] == [500, 200]
    first, second = receiver.bodies()
    for delivered in (first, second):
        assert delivered["id"] == call_id and delivered["status"] == "completed"
        assert delivered["response"]["object"] == "chat.completion"
        assert delivered["mode"] == "batch" and delivered["model"] == model
    assert second["batch"]["callback"]["attempts"] == 1  # the failed try, as recorded
    wait_until(
        lambda: record(batch_gateway, call_id)["batch"]["callback"]["delivery"] == "delivered",
        10,
        "the delivery to be recorded",
    )
    callback = record(batch_gateway, call_id)["batch"]["callback"]
    assert callback["attempts"] == 2 and callback["url"] == receiver.url
    assert len(receiver.received) == 2  # never again once delivered


def test_a_callback_to_a_name_resolving_to_a_private_address_is_refused_at_delivery(
    batch_gateway: ServerProcess,
) -> None:
    hook = Receiver(port=HOOK_PORT)
    try:
        url = f"http://localhost:{HOOK_PORT}/hook"  # allowed by name: resolves to loopback
        headers = {"x-gateway-callback-url": url}
        call_id = defer(batch_gateway, "emu-gpt", "call me", headers=headers)
        wait_until(
            lambda: record(batch_gateway, call_id)["batch"]["callback"]["delivery"] == "failed",
            20,
            "the delivery to be refused",
        )
        callback = record(batch_gateway, call_id)["batch"]["callback"]
        assert callback["attempts"] == 1 and "private address" in callback["error"]
        assert hook.received == []
    finally:
        hook.close()
