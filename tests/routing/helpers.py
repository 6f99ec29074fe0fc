"""Calls through the routed gateway and what the simulator and the gateway say of them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import openai

from tests.conftest import sim_records
from tests.ops.traffic import wait_for
from tests.routing.conftest import ADMIN, KEY
from tests.servers import ServerProcess


def new_tag() -> str:
    return uuid.uuid4().hex[:12]


def say(tag: str, extra: str = "") -> list[dict[str, str]]:
    return [{"role": "user", "content": f"hi [sim tag={tag} tokens=4 {extra}]"}]


def client(gateway: ServerProcess, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0,
                         timeout=options.pop("timeout", 15), **options)


def reached(sim: ServerProcess, tag: str) -> list[str]:
    """The upstream model of each request the simulator saw with `tag`, in order."""
    return [record["model"] for record in sim_records(sim, tag)]


def deployments(gateway: ServerProcess) -> dict[tuple[str, str], dict[str, Any]]:
    response = httpx.get(f"{gateway.url}/v1/gateway/deployments",
                         headers={"authorization": f"Bearer {ADMIN}"}, timeout=5)
    response.raise_for_status()
    return {(row["model"], row["deployment"]): row for row in response.json()["data"]}


def ledger_row(gateway: ServerProcess, call_id: str) -> dict[str, Any]:
    def fetch() -> dict[str, Any] | None:
        response = httpx.get(f"{gateway.url}/v1/gateway/requests/{call_id}",
                             headers={"authorization": f"Bearer {ADMIN}"}, timeout=5)
        return response.json() if response.status_code == 200 else None

    row: dict[str, Any] = wait_for(fetch, timeout=10, what=f"ledger row {call_id}")
    return row


def streamed_text(stream: Any) -> str:
    return "".join(
        chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
    )
