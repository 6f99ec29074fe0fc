"""Request plumbing shared by the file and batch routes: keys, JSON bodies, errors, paging."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs

import orjson

from gateway.sim.errors import UNAUTHORIZED, SimError, bad_request, error_response
from gateway.sim.exchange import Exchange
from gateway.sim.openai_common import bearer_key
from gateway.sim.state import SimState

T = TypeVar("T")
MAX_LIMIT = 100


def not_found(message: str) -> SimError:
    """A 404 with `message`."""
    return SimError(404, "invalid_request_error", None, "not_found_error", "NOT_FOUND", message)


def conflict(message: str) -> SimError:
    """A 409 with `message` (an action the object's state does not allow)."""
    return SimError(
        409, "invalid_request_error", None, "invalid_request_error", "FAILED_PRECONDITION", message
    )


def api_key(ex: Exchange, api: str) -> str | None:
    """The key presented: `x-api-key` first for Anthropic, the bearer token for OpenAI."""
    if api == "anthropic":
        return ex.header(b"x-api-key") or bearer_key(ex)
    return bearer_key(ex)


async def authorized(state: SimState, ex: Exchange, api: str) -> bool:
    """True if the key is right (or none is required); else answers 401 and returns False."""
    required = state.options.require_key
    if required is None or api_key(ex, api) == required:
        return True
    await ex.read_body()
    await send_error(ex, api, UNAUTHORIZED)
    return False


async def read_json(ex: Exchange) -> dict[str, Any] | SimError:
    """The request body as a JSON object, or the 400 to answer."""
    try:
        body = orjson.loads(await ex.read_body())
    except orjson.JSONDecodeError:
        return bad_request("Request body is not valid JSON")
    if not isinstance(body, dict):
        return bad_request("Request body must be a JSON object")
    return body


async def send_error(ex: Exchange, api: str, error: SimError) -> None:
    """Answer with `error` in the shape of `api`."""
    await ex.respond(*error_response(api, error))


async def send_json(ex: Exchange, payload: Any) -> None:
    """Answer 200 with `payload` as JSON."""
    await ex.respond(200, orjson.dumps(payload))


def path_id(ex: Exchange) -> str:
    """The `{id}` the router found in the path."""
    return str(ex.scope["path_params"]["id"])


def query(ex: Exchange) -> dict[str, str]:
    """The query parameters (the last value of each)."""
    pairs = parse_qs(ex.scope["query_string"].decode("latin-1"))
    return {key: values[-1] for key, values in pairs.items()}


def page(
    items: Sequence[T], params: dict[str, str], key: Callable[[T], str], default_limit: int = 20
) -> tuple[list[T], bool] | SimError:
    """The slice after `after`/`after_id` or before `before_id`, at most `limit`; and has_more."""
    try:
        limit = int(params.get("limit", default_limit))
    except ValueError:
        return bad_request("limit must be an integer")
    if not 1 <= limit <= MAX_LIMIT:
        return bad_request(f"limit must be between 1 and {MAX_LIMIT}")
    ids = [key(item) for item in items]
    start, stop = 0, len(items)
    after = params.get("after") or params.get("after_id")
    before = params.get("before_id")
    if after is not None:
        start = ids.index(after) + 1 if after in ids else len(items)
    if before is not None:
        stop = ids.index(before) if before in ids else 0
        start = max(start, stop - limit)
    chosen = list(items[start:stop][:limit])
    has_more = start + len(chosen) < stop if before is None else start > 0
    return chosen, has_more
