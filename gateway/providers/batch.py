"""What the batch verbs of a provider return, and their HTTP plumbing (the upstream pool's
aiohttp session; failures mapped by `providers.errors`, the one place that does it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import orjson

from gateway.providers.errors import error_from_response, upstream_failures

if TYPE_CHECKING:
    from gateway.providers.base import Provider

ItemKind = Literal["succeeded", "errored", "expired", "cancelled"]
JobOutcome = Literal["completed", "failed", "expired", "cancelled"]


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One call's result in a provider job, matched to the call by `custom_id`."""

    custom_id: str
    kind: ItemKind
    status: int = 200
    body: bytes = b""  # the provider's response (succeeded) or error body (errored)


@dataclass(frozen=True, slots=True)
class BatchPoll:
    """A provider job's state; once `ended`, its `outcome` and every result it reported."""

    status: str  # the provider's own word (`in_progress`, `finalizing`, `ended`, ...)
    outcome: JobOutcome | None = None
    items: list[ItemResult] = field(default_factory=list)
    error: str | None = None  # why a failed job failed

    @property
    def ended(self) -> bool:
        return self.outcome is not None


async def fetch(
    session: aiohttp.ClientSession,
    provider: Provider,
    method: str,
    url: str,
    headers: dict[str, str],
    data: Any = None,
) -> bytes:
    """The body of a successful response; an error status raises the mapped GatewayError."""
    with upstream_failures(provider):
        async with session.request(method, url, headers=headers, data=data) as response:
            payload = await response.read()
            status, response_headers = response.status, response.headers
    if status >= 400:
        raise error_from_response(provider, status, payload, response_headers)
    return payload


async def fetch_json(
    session: aiohttp.ClientSession,
    provider: Provider,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any = None,
) -> Any:
    """`fetch` with a JSON body (if any) and a JSON answer."""
    data = None
    if body is not None:
        data = orjson.dumps(body)
        headers = {**headers, "content-type": "application/json"}
    return orjson.loads(await fetch(session, provider, method, url, headers, data))


def jsonl(payload: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL body (blank lines skipped)."""
    return [orjson.loads(line) for line in payload.splitlines() if line.strip()]
