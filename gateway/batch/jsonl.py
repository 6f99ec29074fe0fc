"""A Batch API input file: JSONL request lines, each checked as a call the gateway can run.

A problem is reported by its line number: not JSON, not an object, a missing `custom_id`,
`method`, `url` or `body`, a method other than POST, an unknown url, a duplicate `custom_id`,
or a body the endpoint would refuse (a missing or unknown model, a bad field, a translation
the model's provider cannot take). Up to ten problems are listed in one 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.api.validation import check_storable
from gateway.errors import BadRequest, GatewayError

ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
}
MAX_LINES = 50_000
MAX_REPORTED = 10

Check = Callable[[str, dict[str, Any]], None]  # (route, body) -> None, or raises GatewayError


class InvalidFile(BadRequest):
    code = "invalid_batch_file"


class LineError(ValueError):
    """What is wrong with one line."""


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    custom_id: str
    url: str
    body: dict[str, Any]

    @property
    def route(self) -> str:
        return ENDPOINTS[self.url]


def parse_lines(data: bytes, check: Check) -> list[Line]:
    """Every request of the file, or InvalidFile naming the lines that are wrong."""
    lines: list[Line] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(_line(number, raw, seen, check))
        except LineError as exc:
            problems.append(f"line {number}: {exc}")
            if len(problems) >= MAX_REPORTED:
                problems.append("(further lines not checked)")
                break
    if problems:
        raise InvalidFile("invalid batch input file: " + "; ".join(problems), param="file")
    if not lines:
        raise InvalidFile("invalid batch input file: it has no request lines", param="file")
    if len(lines) > MAX_LINES:
        raise InvalidFile(
            f"invalid batch input file: {len(lines)} requests; at most {MAX_LINES} per file",
            param="file",
        )
    return lines


def _line(number: int, raw: bytes, seen: set[str], check: Check) -> Line:
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise LineError("not valid JSON") from None
    if not isinstance(request, dict):
        raise LineError("not a JSON object")
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise LineError("missing 'custom_id' (a non-empty string)")
    if custom_id in seen:
        raise LineError(f"custom_id {custom_id!r} is not unique in the file")
    seen.add(custom_id)
    method = request.get("method")
    if method is None:
        raise LineError("missing 'method'")
    if method != "POST":
        raise LineError(f"'method' must be POST, got {method!r}")
    url = request.get("url")
    if not isinstance(url, str) or not url:
        raise LineError("missing 'url'")
    if url not in ENDPOINTS:
        raise LineError(f"unknown url {url!r}; use one of {', '.join(ENDPOINTS)}")
    body = request.get("body")
    if not isinstance(body, dict):
        raise LineError("missing 'body' (an object)")
    try:
        check_storable(custom_id, "custom_id")
        check_storable(body)  # stored with the call: no NUL, bounded nesting
        check(ENDPOINTS[url], body)
    except GatewayError as err:
        raise LineError(err.message) from None
    return Line(number, custom_id, url, body)
