"""Validating an OpenAI batch input file: JSONL request lines, one endpoint, one model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MAX_REQUESTS = 50_000
MAX_ERRORS = 50


@dataclass(frozen=True, slots=True)
class InputLine:
    """One request of the file: its line number, custom_id and body."""

    line: int
    custom_id: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ParsedInput:
    """The requests of a valid file, or the line-numbered errors of an invalid one."""

    lines: list[InputLine]
    errors: list[dict[str, Any]]
    model: str | None


def parse_input(data: bytes, endpoint: str) -> ParsedInput:
    """Every request line of `data` checked against `endpoint`; blank lines are skipped."""
    lines: list[InputLine] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        checked = _check(raw, endpoint, seen)
        if isinstance(checked, InputLine):
            model = model or checked.body["model"]
            if checked.body["model"] != model:
                message = f"Every request must use the same model; an earlier line uses {model!r}."
                checked = ("mismatched_model", message, "body.model")
        if isinstance(checked, InputLine):
            lines.append(InputLine(number, checked.custom_id, checked.body))
        elif len(errors) < MAX_ERRORS:
            errors.append(_error(*checked, number))
    if not lines and not errors:
        errors.append(_error("empty_file", "The input file has no requests.", None, None))
    if len(lines) > MAX_REQUESTS:
        message = f"A batch can have at most {MAX_REQUESTS} requests."
        errors.append(_error("too_many_requests", message, None, None))
    return ParsedInput(lines if not errors else [], errors, model)


def _check(raw: bytes, endpoint: str, seen: set[str]) -> InputLine | tuple[str, str, str | None]:
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "invalid_json_line", "This line is not parseable as valid JSON.", None
    if not isinstance(request, dict):
        return "invalid_json_line", "This line is not a JSON object.", None
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id"
    if custom_id in seen:
        return "duplicate_custom_id", f"The custom_id {custom_id!r} is not unique.", "custom_id"
    seen.add(custom_id)
    if request.get("method") != "POST":
        return "invalid_method", "The method of every request must be 'POST'.", "method"
    url = request.get("url")
    if url != endpoint:
        message = f"The url {url!r} does not match the batch endpoint {endpoint!r}."
        return "invalid_url", message, "url"
    body = request.get("body")
    if not isinstance(body, dict):
        return "missing_required_parameter", "Missing required parameter: 'body'.", "body"
    if not isinstance(body.get("model"), str) or not body["model"]:
        message = "Missing required parameter: 'body.model'."
        return "missing_required_parameter", message, "body.model"
    return InputLine(0, custom_id, body)


def _error(code: str, message: str, param: str | None, line: int | None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}
