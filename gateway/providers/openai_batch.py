"""The OpenAI Batch API: upload the calls as JSONL (`/files`), create a batch, poll, read results.

The batch carries the gateway's job id in `metadata.gateway_job_id`, so a worker that died
between creating the batch and storing its id lets the next one find it (`find_batch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from gateway.providers.batch import BatchPoll, ItemResult, fetch, fetch_json, jsonl

if TYPE_CHECKING:
    from gateway.providers.base import Provider, UpstreamRequest

ENDED = ("completed", "failed", "expired", "cancelled")
NOT_RUN = {"batch_expired": "expired", "batch_cancelled": "cancelled"}
TAG = "gateway_job_id"


async def submit_batch(
    provider: Provider,
    session: aiohttp.ClientSession,
    requests: list[tuple[str, UpstreamRequest]],
    tag: str,
) -> str:
    """Upload the calls (all to one endpoint) and create the batch; its id."""
    base = provider.config.base_url
    lines = []
    for custom_id, request in requests:
        url = "/v1" + request.url[len(base) :]
        line = {"custom_id": custom_id, "method": "POST", "url": url}
        lines.append(orjson.dumps(line)[:-1] + b',"body":' + request.body + b"}")
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field(
        "file",
        b"\n".join(lines) + b"\n",
        filename=f"gateway-{tag}.jsonl",
        content_type="application/jsonl",
    )
    headers = provider.credentials()
    uploaded = orjson.loads(await fetch(session, provider, "POST", base + "/files", headers, form))
    body = {
        "input_file_id": uploaded["id"],
        "endpoint": "/v1" + requests[0][1].url[len(base) :],
        "completion_window": "24h",
        "metadata": {TAG: tag},
    }
    batch = await fetch_json(session, provider, "POST", base + "/batches", headers, body)
    return str(batch["id"])


async def poll_batch(provider: Provider, session: aiohttp.ClientSession, job_id: str) -> BatchPoll:
    base, headers = provider.config.base_url, provider.credentials()
    batch = await fetch_json(session, provider, "GET", f"{base}/batches/{job_id}", headers)
    status = str(batch.get("status"))
    if status not in ENDED:
        return BatchPoll(status)
    items: list[ItemResult] = []
    for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
        if file_id:
            url = f"{base}/files/{file_id}/content"
            items += [
                _item(line) for line in jsonl(await fetch(session, provider, "GET", url, headers))
            ]
    errors = ((batch.get("errors") or {}).get("data") or [{}])[0]
    reason = errors.get("message")
    reason = None if reason is None else provider.scrub(str(reason))  # stored with the job
    return BatchPoll(status, status, items, reason)  # type: ignore[arg-type]


async def find_batch(provider: Provider, session: aiohttp.ClientSession, tag: str) -> str | None:
    """The id of the batch created for gateway job `tag`, among the latest 100."""
    url = f"{provider.config.base_url}/batches?limit=100"
    listed = await fetch_json(session, provider, "GET", url, provider.credentials())
    for batch in listed.get("data") or ():
        if (batch.get("metadata") or {}).get(TAG) == tag:
            return str(batch["id"])
    return None


def _item(line: dict[str, Any]) -> ItemResult:
    custom_id = str(line.get("custom_id"))
    response = line.get("response")
    if response:
        status = int(response.get("status_code") or 500)
        body = orjson.dumps(response.get("body"))
        return ItemResult(custom_id, "succeeded" if status < 400 else "errored", status, body)
    error = line.get("error") or {}
    kind = NOT_RUN.get(str(error.get("code")))
    if kind is not None:
        return ItemResult(custom_id, kind)  # type: ignore[arg-type]
    return ItemResult(custom_id, "errored", 500, orjson.dumps({"error": error}))
