"""Building calls, settings and ledgers for the ledger tests."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.auth import Identity
from gateway.calls import Call
from gateway.config import Settings, build_settings
from gateway.ids import new_call_id
from gateway.streaming.meter import Meter

PRICE_IN, PRICE_OUT = 1.0, 2.0
MESSAGES = [{"role": "user", "content": "hello there"}]


def settings(url: str, **extra: Any) -> Settings:
    document: dict[str, Any] = {
        "database_url": url,
        "providers": [
            {"name": "up", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
            {
                "name": "gen",
                "kind": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "cancel_billing": "generated",
            },
        ],
        "models": [
            {
                "name": "gpt-4o-mini",
                "provider": "up",
                "price": {"input": PRICE_IN, "output": PRICE_OUT},
                "batch_discount": 0.5,
            },
            {
                "name": "gen-model",
                "provider": "gen",
                "upstream_model": "gpt-4",
                "price": {"input": 3.0, "output": 5.0},
            },
        ],
        "workloads": [{"name": "chat-ui", "keys": ["key-chat"]}, {"name": "etl"}],
    }
    document.update(extra)
    return build_settings(document, {})


def make_meter(
    pieces: list[str] = (),
    usage: tuple[int | None, int | None] | None = None,
    sent: bool = True,
    gone_at: int | None = None,
) -> Meter:
    meter = Meter()
    if sent:
        meter.upstream_sent_at = meter.started + 0.001
    for piece in pieces:
        meter.deliver(piece)
    if usage is not None:
        meter.set_usage(*usage)
    if gone_at is not None:
        meter.delivered_at_gone = gone_at  # what `mark_client_gone` froze
    return meter


def make_call(
    settings: Settings,
    *,
    model: str = "gpt-4o-mini",
    workload: str = "chat-ui",
    mode: str = "stream",
    status: str = "completed",
    meter: Meter | None = None,
    body: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    call_id: str | None = None,
    route: str = "chat",
) -> Call:
    model_config = settings.model(model)
    assert model_config is not None
    call = Call(
        id=call_id or new_call_id(),
        identity=Identity(workload, key_id="k" * 16),
        route=route,
        model=model_config,
        provider=model_config.provider,
        mode=mode,  # type: ignore[arg-type]
        meter=meter or make_meter([" the", " model"], usage=(9, 2)),
        request_body=body if body is not None else {"model": model, "messages": MESSAGES},
    )
    if created_at is not None:
        call.created_at = created_at
    if status == "cancelled":
        call.cancel("client_disconnect", 0.0015)
    elif status == "failed":
        call.fail(502, "upstream went away")
    call.finished_at = call.created_at + timedelta(milliseconds=250)
    return call


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def wait_for(predicate: Any, within: float = 10.0, interval: float = 0.05) -> None:
    """Poll an async predicate until it is true."""
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


class Counted:
    """Stands in for a function (plain or async) and records the arguments of each call."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        return self.function(*args)
