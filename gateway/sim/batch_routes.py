"""The file and batch routes, some with an `{id}` in the path (put in `scope["path_params"]`)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from gateway.sim import anthropic_batches as anthropic
from gateway.sim import openai_batches as openai
from gateway.sim import openai_files as files
from gateway.sim.exchange import Exchange, Scope
from gateway.sim.state import SimState

Handler = Callable[[SimState, Exchange], Awaitable[None]]

TABLE: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/files", files.upload),
    ("GET", "/v1/files", files.list_files),
    ("GET", "/v1/files/{id}", files.retrieve),
    ("DELETE", "/v1/files/{id}", files.delete),
    ("GET", "/v1/files/{id}/content", files.content),
    ("POST", "/v1/batches", openai.create),
    ("GET", "/v1/batches", openai.list_batches),
    ("GET", "/v1/batches/{id}", openai.retrieve),
    ("POST", "/v1/batches/{id}/cancel", openai.cancel),
    ("POST", "/v1/messages/batches", anthropic.create),
    ("GET", "/v1/messages/batches", anthropic.list_batches),
    ("GET", "/v1/messages/batches/{id}", anthropic.retrieve),
    ("DELETE", "/v1/messages/batches/{id}", anthropic.delete),
    ("POST", "/v1/messages/batches/{id}/cancel", anthropic.cancel),
    ("GET", "/v1/messages/batches/{id}/results", anthropic.results),
)

EXACT: dict[tuple[str, str], Handler] = {
    (method, path): handler for method, path, handler in TABLE if "{" not in path
}
PATTERNS: tuple[tuple[str, re.Pattern[str], Handler], ...] = tuple(
    (method, re.compile(re.escape(path).replace(r"\{id\}", "(?P<id>[^/]+)")), handler)
    for method, path, handler in TABLE
    if "{" in path
)


def find(scope: Scope) -> Handler | None:
    """The handler of a file or batch route, with the path's id noted in `scope`; or None."""
    method, path = scope["method"], scope["path"]
    handler = EXACT.get((method, path))
    if handler is not None:
        return handler
    for pattern_method, pattern, handler in PATTERNS:
        if method == pattern_method:
            match = pattern.fullmatch(path)
            if match is not None:
                scope["path_params"] = match.groupdict()
                return handler
    return None
