"""OpenAI Batch API: `/v1/batches` create, retrieve, list and cancel, with result files."""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.sim import batch_http as http
from gateway.sim.batch_items import answer_item
from gateway.sim.batch_job import DAY, BatchJob, ItemResult, Progress, request_counts
from gateway.sim.embeddings import EmbeddingsDialect
from gateway.sim.errors import SimError, bad_request
from gateway.sim.exchange import Exchange
from gateway.sim.files import new_id
from gateway.sim.generation import Dialect
from gateway.sim.openai_batch_input import parse_input
from gateway.sim.openai_chat import ChatDialect
from gateway.sim.openai_completions import CompletionsDialect
from gateway.sim.openai_responses import ResponsesDialect
from gateway.sim.state import SimState

API = "openai"
ENDPOINTS: dict[str, Dialect] = {
    "/v1/chat/completions": ChatDialect(),
    "/v1/completions": CompletionsDialect(),
    "/v1/embeddings": EmbeddingsDialect(),
    "/v1/responses": ResponsesDialect(),
}
UNANSWERED = {
    "cancelled": ("batch_cancelled", "The batch was cancelled before this request executed."),
    "expired": (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
}
TIMESTAMPS = (
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
)


async def create(state: SimState, ex: Exchange) -> None:
    """`POST /v1/batches`: validate the input file now, reveal the outcome over the delay."""
    if not await http.authorized(state, ex, API):
        return
    body = await http.read_json(ex)
    if not isinstance(body, dict):
        return await http.send_error(ex, API, body)
    problem = _refusal(state, body)
    if problem is not None:
        return await http.send_error(ex, API, problem)
    endpoint, file_id = body["endpoint"], body["input_file_id"]
    stored = state.batches.files.get(file_id)
    assert stored is not None
    parsed = parse_input(stored.data, endpoint)
    dialect = ENDPOINTS[endpoint]
    results = [answer_item(state, ex, dialect, x.custom_id, x.body) for x in parsed.lines]
    metadata = body.get("metadata") or {}
    plan = results[0].plan if results else None
    delay = metadata.get("sim_delay_ms", plan.batch_delay_ms if plan else None)
    expire = str(metadata.get("sim_expire", "")).lower() in ("1", "true", "yes")
    job = BatchJob(
        new_id("batch_"),
        API,
        results,
        state.batches.shuffled(len(results)),
        time.time(),
        state.batches.delay_for(delay),
        expire=expire or (plan is not None and plan.batch_expire),
        invalid=bool(parsed.errors),
        api_key=http.api_key(ex, API),
        extra={
            "endpoint": endpoint,
            "input_file_id": file_id,
            "completion_window": body["completion_window"],
            "metadata": body.get("metadata"),
            "errors": parsed.errors,
            "model": parsed.model,
        },
    )
    state.batches.add(job)
    await http.send_json(ex, batch_object(state, job, job.initial()))


async def retrieve(state: SimState, ex: Exchange) -> None:
    """`GET /v1/batches/{id}`: counted as a poll."""
    job = await _job(state, ex)
    if job is not None:
        job.polls += 1
        await http.send_json(ex, batch_object(state, job, job.progress(time.time())))


async def list_batches(state: SimState, ex: Exchange) -> None:
    """`GET /v1/batches[?limit=&after=]`: newest first."""
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
            "object": "list",
            "data": [batch_object(state, job, job.progress(now)) for job in jobs],
            "first_id": jobs[0].id if jobs else None,
            "last_id": jobs[-1].id if jobs else None,
            "has_more": has_more,
        },
    )


async def cancel(state: SimState, ex: Exchange) -> None:
    """`POST /v1/batches/{id}/cancel`: items not yet answered are cancelled."""
    job = await _job(state, ex)
    if job is None:
        return
    progress = job.cancel(time.time())
    if progress is None:
        phase = job.progress(time.time()).phase
        message = f"Cannot cancel a batch with status '{phase}'."
        return await http.send_error(ex, API, http.conflict(message))
    await http.send_json(ex, batch_object(state, job, progress))


def batch_object(state: SimState, job: BatchJob, progress: Progress) -> dict[str, Any]:
    """The `batch` object at `progress`; writes the result files once the job has ended."""
    if progress.ended and "output_file_id" not in job.extra:
        _write_files(state, job, progress)
    extra, marks = job.extra, progress.marks
    failed = progress.phase == "failed"
    batch: dict[str, Any] = {
        "id": job.id,
        "object": "batch",
        "endpoint": extra["endpoint"],
        "model": extra["model"],
        "errors": {"object": "list", "data": extra["errors"]} if failed else None,
        "input_file_id": extra["input_file_id"],
        "completion_window": extra["completion_window"],
        "status": progress.phase,
        "output_file_id": extra.get("output_file_id"),
        "error_file_id": extra.get("error_file_id"),
        "created_at": int(job.created_at),
        "expires_at": int(job.created_at + DAY),
    }
    for name in TIMESTAMPS:
        batch[f"{name}_at"] = int(marks[name]) if name in marks else None
    batch["request_counts"] = request_counts(job, progress)
    batch["metadata"] = extra["metadata"]
    batch["usage"] = _usage(job.answered(progress))
    return batch


def _refusal(state: SimState, body: dict[str, Any]) -> SimError | None:
    endpoint, file_id = body.get("endpoint"), body.get("input_file_id")
    if not isinstance(file_id, str):
        return bad_request("Missing required parameter: 'input_file_id'.")
    if endpoint not in ENDPOINTS:
        supported = ", ".join(ENDPOINTS)
        return bad_request(f"Invalid 'endpoint': {endpoint!r}; supported: {supported}.")
    if body.get("completion_window") != "24h":
        return bad_request("Invalid 'completion_window': only '24h' is supported.")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return bad_request("Invalid 'metadata': expected an object.")
    stored = state.batches.files.get(file_id)
    if stored is None:
        return http.not_found(f"No such File object: {file_id}")
    if stored.purpose != "batch":
        return bad_request(f"File {file_id} has purpose {stored.purpose!r}, not 'batch'.")
    return None


async def _job(state: SimState, ex: Exchange) -> BatchJob | None:
    if not await http.authorized(state, ex, API):
        return None
    job_id = http.path_id(ex)
    job = state.batches.get(job_id, API)
    if job is None:
        await http.send_error(ex, API, http.not_found(f"No batch found with id '{job_id}'."))
    return job


def _write_files(state: SimState, job: BatchJob, progress: Progress) -> None:
    output: list[bytes] = []
    errors: list[bytes] = []
    for item in job.answered(progress):
        (output if item.ok else errors).append(_answered_line(item))
    code_message = UNANSWERED.get(progress.phase)
    if code_message is not None:
        errors += [_unanswered_line(item, *code_message) for item in job.unanswered(progress)]
    job.extra["output_file_id"] = _result_file(state, job, output, "output")
    job.extra["error_file_id"] = _result_file(state, job, errors, "error")


def _result_file(state: SimState, job: BatchJob, lines: list[bytes], kind: str) -> str | None:
    if not lines:
        return None
    data = b"\n".join(lines) + b"\n"
    return state.batches.files.add(f"{job.id}_{kind}.jsonl", "batch_output", data, job.id).id


def _answered_line(item: ItemResult) -> bytes:
    response = {
        "status_code": item.status,
        "request_id": item.request_id,
        "body": orjson.Fragment(item.body),
    }
    line = {"id": new_id("batch_req_"), "custom_id": item.custom_id, "response": response}
    return orjson.dumps({**line, "error": None})


def _unanswered_line(item: ItemResult, code: str, message: str) -> bytes:
    error = {"code": code, "message": message}
    line = {"id": new_id("batch_req_"), "custom_id": item.custom_id, "response": None}
    return orjson.dumps({**line, "error": error})


def _usage(answered: list[ItemResult]) -> dict[str, Any]:
    done = [item for item in answered if item.ok]
    prompt = sum(item.input_tokens for item in done)
    completion = sum(item.output_tokens for item in done)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }
