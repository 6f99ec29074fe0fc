"""OpenAI Files: `/v1/files` upload, list, retrieve, content and delete, kept in memory."""

from __future__ import annotations

from gateway.sim import batch_http as http
from gateway.sim.errors import bad_request
from gateway.sim.exchange import Exchange
from gateway.sim.files import StoredFile
from gateway.sim.multipart import MultipartError, parse_multipart
from gateway.sim.state import SimState

API = "openai"
PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
MAX_BYTES = 200 * 1024 * 1024
CONTENT_HEADERS = ((b"content-type", b"application/octet-stream"),)


async def upload(state: SimState, ex: Exchange) -> None:
    """`POST /v1/files`: multipart with `file` and `purpose`."""
    if not await http.authorized(state, ex, API):
        return
    body = await ex.read_body()
    try:
        parts = parse_multipart(body, ex.header(b"content-type"))
    except MultipartError as exc:
        return await http.send_error(ex, API, bad_request(str(exc)))
    file, purpose = parts.get("file"), parts.get("purpose")
    if file is None:
        return await http.send_error(ex, API, bad_request("Missing required parameter: 'file'."))
    purpose_text = purpose.data.decode("utf-8", "replace").strip() if purpose else ""
    if purpose_text not in PURPOSES:
        message = f"Invalid value for 'purpose': {purpose_text!r}."
        return await http.send_error(ex, API, bad_request(message))
    if len(file.data) > MAX_BYTES:
        return await http.send_error(ex, API, bad_request("File is larger than 200 MB."))
    stored = state.batches.files.add(file.filename or "upload", purpose_text, file.data)
    await http.send_json(ex, stored.as_object())


async def list_files(state: SimState, ex: Exchange) -> None:
    """`GET /v1/files[?purpose=&limit=&after=]`: newest first."""
    if not await http.authorized(state, ex, API):
        return
    params = http.query(ex)
    files = state.batches.files.newest_first(params.get("purpose"))
    chosen = http.page(files, params, lambda f: f.id, default_limit=http.MAX_LIMIT)
    if not isinstance(chosen, tuple):
        return await http.send_error(ex, API, chosen)
    data, has_more = chosen
    await http.send_json(
        ex,
        {
            "object": "list",
            "data": [f.as_object() for f in data],
            "first_id": data[0].id if data else None,
            "last_id": data[-1].id if data else None,
            "has_more": has_more,
        },
    )


async def retrieve(state: SimState, ex: Exchange) -> None:
    """`GET /v1/files/{id}`."""
    if not await http.authorized(state, ex, API):
        return
    found = await _found(state, ex)
    if found is not None:
        await http.send_json(ex, found.as_object())


async def content(state: SimState, ex: Exchange) -> None:
    """`GET /v1/files/{id}/content`: the bytes; a batch's result files count as fetched."""
    if not await http.authorized(state, ex, API):
        return
    found = await _found(state, ex)
    if found is None:
        return
    if found.batch_id is not None:
        job = state.batches.get(found.batch_id, API)
        if job is not None:
            job.fetches += 1
    await ex.respond(200, found.data, CONTENT_HEADERS)


async def delete(state: SimState, ex: Exchange) -> None:
    """`DELETE /v1/files/{id}`."""
    if not await http.authorized(state, ex, API):
        return
    found = await _found(state, ex)
    if found is not None:
        state.batches.files.delete(found.id)
        await http.send_json(ex, {"id": found.id, "object": "file", "deleted": True})


async def _found(state: SimState, ex: Exchange) -> StoredFile | None:
    file_id = http.path_id(ex)
    found = state.batches.files.get(file_id)
    if found is None:
        await http.send_error(ex, API, http.not_found(f"No such File object: {file_id}"))
    return found
