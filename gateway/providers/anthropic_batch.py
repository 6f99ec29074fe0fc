"""Anthropic Message Batches: create with every call's params, poll, read the results JSONL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from gateway.providers.batch import BatchPoll, ItemResult, fetch, fetch_json, jsonl

if TYPE_CHECKING:
    from gateway.providers.base import Provider, UpstreamRequest

KINDS = {
    "succeeded": "succeeded",
    "errored": "errored",
    "expired": "expired",
    "canceled": "cancelled",
}
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "overloaded_error": 529,
}


async def submit_batch(
    provider: Provider,
    session: aiohttp.ClientSession,
    requests: list[tuple[str, UpstreamRequest]],
    tag: str,
) -> str:
    """One message batch holding every call; its id."""
    first = requests[0][1]
    headers = provider.credentials()
    headers.update((k, v) for k, v in first.headers.items() if k.startswith("anthropic-"))
    items = b",".join(
        b'{"custom_id":' + orjson.dumps(custom_id) + b',"params":' + request.body + b"}"
        for custom_id, request in requests
    )
    headers["content-type"] = "application/json"
    url = provider.endpoint("/v1/messages/batches")
    batch = orjson.loads(
        await fetch(session, provider, "POST", url, headers, b'{"requests":[' + items + b"]}")
    )
    return str(batch["id"])


async def poll_batch(provider: Provider, session: aiohttp.ClientSession, job_id: str) -> BatchPoll:
    headers = provider.credentials()
    url = provider.endpoint(f"/v1/messages/batches/{job_id}")
    batch = await fetch_json(session, provider, "GET", url, headers)
    status = str(batch.get("processing_status"))
    if status != "ended":
        return BatchPoll(status)
    results_url = batch.get("results_url") or url + "/results"
    lines = jsonl(await fetch(session, provider, "GET", results_url, headers))
    outcome = "cancelled" if batch.get("cancel_initiated_at") else "completed"
    return BatchPoll(status, outcome, [_item(line) for line in lines])  # type: ignore[arg-type]


async def find_batch(provider: Provider, session: aiohttp.ClientSession, tag: str) -> str | None:
    """Message batches carry no metadata to find one by: the caller submits again."""
    return None


def _item(line: dict[str, Any]) -> ItemResult:
    custom_id = str(line.get("custom_id"))
    result = line.get("result") or {}
    kind = KINDS.get(str(result.get("type")), "errored")
    if kind == "succeeded":
        return ItemResult(custom_id, "succeeded", 200, orjson.dumps(result.get("message")))
    if kind != "errored":
        return ItemResult(custom_id, kind)  # type: ignore[arg-type]
    error = result.get("error") or {}
    if "error" not in error:  # the bare {type, message}: wrap it as an error body
        error = {"type": "error", "error": error}
    status = ERROR_STATUS.get(str((error.get("error") or {}).get("type")), 500)
    return ItemResult(custom_id, "errored", status, orjson.dumps(error))
