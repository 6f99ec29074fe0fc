"""Anthropic Message Batches: create, retrieve, list, cancel, results and delete."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.sim import batch_http as http
from gateway.sim.anthropic_messages import MessagesDialect
from gateway.sim.batch_items import answer_item, failed_item
from gateway.sim.batch_job import (
    DAY,
    BatchJob,
    ItemResult,
    Progress,
    ended_at,
    request_counts,
    status_of,
)
from gateway.sim.errors import SimError, bad_request
from gateway.sim.exchange import Exchange
from gateway.sim.files import new_id
from gateway.sim.state import SimState

API = "anthropic"
DIALECT = MessagesDialect()
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_REQUESTS = 100_000
JSONL_HEADERS = ((b"content-type", b"application/binary"),)
NO_STREAMING = "stream: Streaming is not supported in the Message Batches API."


async def create(state: SimState, ex: Exchange) -> None:
    """`POST /v1/messages/batches`; the first request's directive may set the batch timing."""
    if not await http.authorized(state, ex, API):
        return
    body = await http.read_json(ex)
    if not isinstance(body, dict):
        return await http.send_error(ex, API, body)
    requests = _requests(body.get("requests"))
    if isinstance(requests, SimError):
        return await http.send_error(ex, API, requests)
    results = [_answer(state, ex, custom_id, params) for custom_id, params in requests]
    plan = results[0].plan
    job = BatchJob(
        new_id("msgbatch_"),
        API,
        results,
        state.batches.shuffled(len(results)),
        time.time(),
        state.batches.delay_for(plan.batch_delay_ms if plan else None),
        expire=plan is not None and plan.batch_expire,
        api_key=http.api_key(ex, API),
        extra={"model": _model(requests[0][1])},
    )
    state.batches.add(job)
    await http.send_json(ex, batch_object(ex, job, job.initial()))


async def retrieve(state: SimState, ex: Exchange) -> None:
    """`GET /v1/messages/batches/{id}`: counted as a poll."""
    job = await _job(state, ex)
    if job is not None:
        job.polls += 1
        await http.send_json(ex, batch_object(ex, job, job.progress(time.time())))


async def list_batches(state: SimState, ex: Exchange) -> None:
    """`GET /v1/messages/batches[?limit=&after_id=&before_id=]`: newest first."""
    if not await http.authorized(state, ex, API):
        return
    chosen = http.page(state.batches.newest_first(API), http.query(ex), lambda job: job.id)
    if not isinstance(chosen, tuple):
        return await http.send_error(ex, API, chosen)
    jobs, has_more = chosen
    now = time.time()
    await http.send_json(
        ex,
        {
            "data": [batch_object(ex, job, job.progress(now)) for job in jobs],
            "has_more": has_more,
            "first_id": jobs[0].id if jobs else None,
            "last_id": jobs[-1].id if jobs else None,
        },
    )


async def cancel(state: SimState, ex: Exchange) -> None:
    """`POST /v1/messages/batches/{id}/cancel`: unanswered requests end `canceled`."""
    job = await _job(state, ex)
    if job is None:
        return
    progress = job.cancel(time.time())
    if progress is None:
        message = f"Message Batch {job.id} has already ended and cannot be canceled."
        return await http.send_error(ex, API, http.conflict(message))
    await http.send_json(ex, batch_object(ex, job, progress))


async def results(state: SimState, ex: Exchange) -> None:
    """`GET /v1/messages/batches/{id}/results`: JSONL, in processing order."""
    job = await _job(state, ex)
    if job is None:
        return
    progress = job.progress(time.time())
    if not progress.ended:
        message = f"Message Batch {job.id} has not ended; its results are not available yet."
        return await http.send_error(ex, API, http.conflict(message))
    job.fetches += 1
    unanswered = orjson.dumps({"type": "expired" if progress.phase == "expired" else "canceled"})
    lines = [_result_line(item) for item in job.answered(progress)]
    lines += [_line(item, unanswered) for item in job.unanswered(progress)]
    await ex.respond(200, b"".join(lines), JSONL_HEADERS)


async def delete(state: SimState, ex: Exchange) -> None:
    """`DELETE /v1/messages/batches/{id}`: only once the batch has ended."""
    job = await _job(state, ex)
    if job is None:
        return
    if not job.progress(time.time()).ended:
        message = f"Message Batch {job.id} is still processing; cancel it before deleting it."
        return await http.send_error(ex, API, http.conflict(message))
    job.deleted = True
    await http.send_json(ex, {"id": job.id, "type": "message_batch_deleted"})


def batch_object(ex: Exchange, job: BatchJob, progress: Progress) -> dict[str, Any]:
    """The `message_batch` object at `progress`."""
    ended = ended_at(progress)
    return {
        "id": job.id,
        "type": "message_batch",
        "processing_status": status_of(API, progress),
        "request_counts": request_counts(job, progress),
        "ended_at": _rfc3339(ended),
        "created_at": _rfc3339(job.created_at),
        "expires_at": _rfc3339(job.created_at + DAY),
        "archived_at": None,
        "cancel_initiated_at": _rfc3339(progress.marks.get("cancelling")),
        "results_url": _results_url(ex, job.id) if ended is not None else None,
    }


def _requests(value: Any) -> list[tuple[str, dict[str, Any]]] | SimError:
    if not isinstance(value, list) or not value:
        return bad_request("requests: must be a non-empty list")
    if len(value) > MAX_REQUESTS:
        return bad_request(f"requests: at most {MAX_REQUESTS} requests per batch")
    requests: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, request in enumerate(value):
        custom_id = request.get("custom_id") if isinstance(request, dict) else None
        params = request.get("params") if isinstance(request, dict) else None
        if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
            return bad_request(f"requests.{index}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$")
        if custom_id in seen:
            return bad_request(f"requests.{index}.custom_id: duplicate custom_id {custom_id!r}")
        if not isinstance(params, dict):
            return bad_request(f"requests.{index}.params: Field required")
        seen.add(custom_id)
        requests.append((custom_id, params))
    return requests


def _answer(state: SimState, ex: Exchange, custom_id: str, params: dict[str, Any]) -> ItemResult:
    if params.get("stream") is True:
        return failed_item(API, custom_id, new_id("req_"), bad_request(NO_STREAMING))
    return answer_item(state, ex, DIALECT, custom_id, params)


def _model(params: dict[str, Any]) -> str | None:
    model = params.get("model")
    return model if isinstance(model, str) else None


async def _job(state: SimState, ex: Exchange) -> BatchJob | None:
    if not await http.authorized(state, ex, API):
        return None
    job_id = http.path_id(ex)
    job = state.batches.get(job_id, API)
    if job is None:
        await http.send_error(ex, API, http.not_found(f"Message Batch {job_id} not found."))
    return job


def _results_url(ex: Exchange, job_id: str) -> str:
    scope = ex.scope
    host = ex.header(b"host")
    if host is None:
        server_host, port = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server_host}:{port}"
    prefix = scope.get("root_path", "")
    return f"{scope.get('scheme', 'http')}://{host}{prefix}/v1/messages/batches/{job_id}/results"


def _result_line(item: ItemResult) -> bytes:
    if item.ok:
        result = b'{"type":"succeeded","message":' + item.body + b"}"
    else:
        result = b'{"type":"errored","error":' + item.body + b"}"
    return _line(item, result)


def _line(item: ItemResult, result: bytes) -> bytes:
    return b'{"custom_id":' + orjson.dumps(item.custom_id) + b',"result":' + result + b"}\n"


def _rfc3339(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")
