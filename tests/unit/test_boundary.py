"""The error boundary: an exception escaping the app is one 500 in the caller's shape, logged
once with its traceback, never re-raised; a response already started is ended cleanly."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import APIRouter

from gateway.api.boundary import ErrorBoundary
from gateway.app import create_app
from gateway.config import build_settings
from tests.inprocess import InProcessApp
from tests.servers import gateway_config


class Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


async def no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def http(path: str) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""}


async def broken(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("a bug")


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("path", "shape_key"), [("/v1/chat/completions", "error"),
                                                 ("/v1/messages", "type")])
async def test_exception_before_the_response_is_a_500_in_the_callers_shape(
    caplog: pytest.LogCaptureFixture, path: str, shape_key: str
) -> None:
    send = Recorder()
    await ErrorBoundary(broken)(http(path), no_body, send)
    assert send.messages[0]["status"] == 500
    body = orjson.loads(send.messages[1]["body"])
    assert shape_key in body
    assert "internal error" in orjson.dumps(body).decode()
    [record] = errors_logged(caplog)
    assert record.exc_info is not None and "a bug" in str(record.exc_info[1])


async def test_exception_after_the_response_started_ends_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def breaks_mid_stream(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        raise RuntimeError("a bug")

    send = Recorder()
    await ErrorBoundary(breaks_mid_stream)(http("/v1/chat/completions"), no_body, send)
    assert [m["type"] for m in send.messages] == [
        "http.response.start", "http.response.body", "http.response.body"]
    assert send.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert len(errors_logged(caplog)) == 1


def test_the_whole_app_answers_a_bug_once_without_re_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette's ServerErrorMiddleware would log and re-raise (uvicorn logs again)."""
    settings = build_settings(gateway_config(
        "http://127.0.0.1:9", database_url=f"sqlite+aiosqlite:///{tmp_path}/ledger.db"), {})
    app = create_app(settings)
    router = APIRouter()

    @router.get("/v1/gateway/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    app.include_router(router)
    served = InProcessApp(app).start()  # ASGITransport raises whatever escapes the app
    try:
        caplog.clear()
        response = served.request("GET", "/v1/gateway/bug")
    finally:
        served.stop()
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert response.headers["x-gateway-request-id"]
    logged = [r for r in errors_logged(caplog) if r.exc_info]
    assert len(logged) == 1
