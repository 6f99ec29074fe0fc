"""Real traffic through a running gateway with the `openai` SDK, and the ledger's view of it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai

ADMIN_KEY = "admin-secret"  # tests.servers.gateway_config's admin key
HELLO = [{"role": "user", "content": "hello"}]
LONG = [{"role": "user", "content": "tell me everything [sim tokens=400 tps=100]"}]


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=10)


def cancel_stream(client: openai.OpenAI, chunks: int = 4) -> str:
    """Open a long stream, read a few chunks, hang up; the call's ledger id."""
    stream = client.chat.completions.create(model="gpt-test", stream=True, messages=LONG)
    for _, _chunk in zip(range(chunks), stream, strict=False):
        pass
    stream.close()
    return stream.response.headers["x-gateway-request-id"]


def mixed_traffic(url: str) -> int:
    """Completed calls for two workloads (chat-ui: 3 sync + 1 stream, etl: 2 sync) and one
    chat-ui stream cancelled after a few chunks; returns the number of calls made."""
    chat, etl = sdk(url, "key-chat"), sdk(url, "key-etl")
    for _ in range(3):
        chat.chat.completions.create(model="gpt-test", messages=HELLO)
    list(chat.chat.completions.create(model="gpt-test", stream=True, messages=HELLO))
    for _ in range(2):
        etl.chat.completions.create(model="gpt-test", messages=HELLO)
    cancel_stream(chat)
    return 7


def admin_get(url: str, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{url}{path}", params=params, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=5
    )
    response.raise_for_status()
    return response.json()


def spend_by_workload(url: str) -> dict[str, dict[str, Any]]:
    rows = admin_get(url, "/v1/gateway/spend", group_by="workload")["data"]
    return {row["workload"]: row for row in rows}


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def wait_for_ledger(url: str, requests: int, cancelled: int = 0) -> dict[str, dict[str, Any]]:
    """The spend rows once the ledger holds `requests` calls, `cancelled` of them cancelled."""

    def landed() -> dict[str, dict[str, Any]] | None:
        rows = spend_by_workload(url)
        total = sum(row["requests"] for row in rows.values())
        gone = sum(row["cancelled"] for row in rows.values())
        return rows if total >= requests and gone >= cancelled else None

    return wait_for(landed, what=f"{requests} calls in the ledger")


def metric_samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the exposition lines of `name` whose labels include `labels`."""
    values = []
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                values.append(float(line.rsplit(" ", 1)[1]))
    return values


def metric_sum(text: str, name: str, **labels: str) -> float:
    return sum(metric_samples(text, name, **labels))
