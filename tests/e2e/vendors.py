"""Helpers for the multi-vendor end-to-end tests: tags, prompts, tools, ledger records."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import sim_records

ADMIN_KEY = "admin-secret"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
}
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
]
ANTHROPIC_TOOLS = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]


def new_tag() -> str:
    return uuid.uuid4().hex[:12]


def say(tag: str, extra: str = "") -> str:
    """A user text of 4 words: the simulator's prompt token count is its word count."""
    return f"hello [sim tag={tag} {extra}]" if extra else f"hello there [sim tag={tag}]"


def one_record(sim: Any, tag: str) -> dict[str, Any]:
    (record,) = sim_records(sim, tag)
    return record


def closed_record(sim: Any, tag: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = sim_records(sim, tag)
        if records and records[0]["closed_at"] is not None:
            return records[0]
        time.sleep(0.02)
    pytest.fail(f"the simulator never saw request {tag} close: {sim_records(sim, tag)}")


def tokens_after(record: dict[str, Any], moment: float) -> int:
    return sum(1 for sent in record["token_times"] if sent > moment)


def ledger_record(gateway: Any, call_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """The call's ledger row, once the writer has flushed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{gateway.url}/v1/gateway/requests/{call_id}",
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            timeout=5,
        )
        if response.status_code == 200:
            return response.json()
        time.sleep(0.05)
    pytest.fail(f"no ledger record for {call_id}")
