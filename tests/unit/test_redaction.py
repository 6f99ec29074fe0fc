"""Secrets masked in response bytes and headers (same length) and in log records."""

from __future__ import annotations

import io
import logging
from typing import Any

from gateway.api.scrub import ScrubMiddleware
from gateway.config import build_settings
from gateway.redaction import RedactingFilter, Redactor, secrets_of

SECRET = "sk-live-0123456789abcdef"
QUOTED = 'sk-"quoted"-secret'


def test_secrets_come_from_provider_keys_key_headers_and_the_admin_key() -> None:
    settings = build_settings(
        {
            "admin_key": "admin-key-0123",
            "providers": [
                {"name": "a", "kind": "openai", "base_url": "http://a/v1", "api_key": SECRET},
                {"name": "b", "kind": "openai", "base_url": "http://b/v1",
                 "headers": {"Authorization": "Bearer vllm-token-123", "x-trace": "visible"}},
            ],
        },
        {},
    )
    found = secrets_of(settings)
    assert {SECRET, "admin-key-0123", "Bearer vllm-token-123", "vllm-token-123"} <= set(found)
    assert "visible" not in found


def test_masks_keep_the_length_and_cover_json_escaped_forms() -> None:
    redactor = Redactor([SECRET, QUOTED, "short"])
    body = b'{"a":"' + SECRET.encode() + b'","b":"sk-\\"quoted\\"-secret"} short'
    masked = redactor.bytes(body)
    assert len(masked) == len(body)
    assert SECRET.encode() not in masked and b"quoted" not in masked
    assert masked.endswith(b" short")  # under MIN_SECRET characters: not a secret worth masking
    assert redactor.text(f"x {SECRET} y") == f"x {'*' * len(SECRET)} y"
    assert redactor.bytes(b"nothing here") == b"nothing here"
    assert not Redactor(["sim", ""])


def test_the_log_filter_masks_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(Redactor([SECRET])))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("upstream said %s", f"bad key {SECRET}")
        try:
            raise ValueError(f"echoed {SECRET}")
        except ValueError:
            logger.exception("failed")
        logger.warning("plain %d", 3)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert SECRET not in text
    assert "bad key ****" in text and "ValueError: echoed ****" in text and "plain 3" in text


async def test_the_middleware_masks_every_body_chunk_and_header_value() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b'{"echo":"' + SECRET.encode() + b'"}'
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(body) + 6).encode()), (b"x-echo", SECRET.encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"tail.."})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = ScrubMiddleware(app, Redactor([SECRET]))
    await middleware({"type": "http"}, None, send)
    start, first, last = sent
    assert dict(start["headers"])[b"x-echo"] == b"*" * len(SECRET)
    declared = int(dict(start["headers"])[b"content-length"])
    assert declared == len(first["body"]) + len(last["body"])  # the length stays true
    assert SECRET.encode() not in first["body"] and first["more_body"] is True
    assert last["body"] == b"tail.."


def test_the_cli_logging_setup_masks_secrets_in_every_handler(
    caplog: Any,
) -> None:
    from gateway import cli
    from gateway.redaction import UVICORN_LOGGERS

    settings = build_settings(
        {"providers": [{"name": "a", "kind": "openai", "base_url": "http://a/v1",
                        "api_key": SECRET}]},
        {},
    )
    root = logging.getLogger()
    before = {h: list(h.filters) for h in root.handlers}
    try:
        with caplog.at_level(logging.INFO):
            cli._configure_logging("info", settings)
            logging.getLogger("gateway.batch").warning("upstream said %s", SECRET)
        assert SECRET not in caplog.text and "*" * len(SECRET) in caplog.text
    finally:
        for handler in root.handlers:
            handler.filters = before.get(handler, [])
        for name in UVICORN_LOGGERS:
            logging.getLogger(name).filters = [
                f for f in logging.getLogger(name).filters if not isinstance(f, RedactingFilter)
            ]
