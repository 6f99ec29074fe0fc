"""In open mode a web page in the user's browser must not be able to spend: cross-site
requests, CORS-simple form posts and DNS-rebound Host names are refused. Keyed calls pay
none of these checks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_open_mode import CHAT, keyless_config
from tests.servers import ServerProcess, start_gateway

MESSAGES = {"model": "claude-test", "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi [sim ttft_ms=0]"}]}


@pytest.fixture(scope="module")
def open_gateway(
    tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("open")
    config = keyless_config(sim.url, tmp, allowed_hosts=["gateway.internal"],
                            cors_allowed_origins=["https://app.example"])
    server = start_gateway(tmp, config)
    yield server
    server.stop()


def post(gw: ServerProcess, headers: dict[str, str], path: str = "/v1/chat/completions",
         **kwargs) -> httpx.Response:
    kwargs.setdefault("json", MESSAGES if path == "/v1/messages" else CHAT)
    return httpx.post(gw.url + path, headers=headers, timeout=10, **kwargs)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"origin": "https://evil.example"}, "cross_site_request"),
        ({"origin": "http://localhost.evil.example"}, "cross_site_request"),
        ({"origin": "null"}, "cross_site_request"),
        ({"origin": "http://[::1"}, "cross_site_request"),
        ({"sec-fetch-site": "cross-site"}, "cross_site_request"),
        ({"sec-fetch-site": "same-site"}, "cross_site_request"),
        ({"host": "evil.example:8080"}, "host_not_allowed"),
        ({"host": "evil.example"}, "host_not_allowed"),
        ({"host": "127.0.0.1.evil.example"}, "host_not_allowed"),
    ],
    ids=lambda h: f"{next(iter(h))}={next(iter(h.values()))}" if isinstance(h, dict) else "",
)
def test_cross_site_and_rebound_requests_are_refused(open_gateway, headers, code) -> None:
    reply = post(open_gateway, headers)
    assert reply.status_code == 403, reply.text
    error = reply.json()["error"]
    assert error["type"] == "permission_error" and error["code"] == code


def test_refusals_are_in_the_callers_shape(open_gateway) -> None:
    reply = post(open_gateway, {"origin": "https://evil.example"}, "/v1/messages")
    assert reply.status_code == 403
    assert reply.json()["type"] == "error"
    assert reply.json()["error"]["type"] == "permission_error"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "TEXT/PLAIN; charset=x"]
)
def test_form_content_types_are_refused(open_gateway, content_type: str) -> None:
    body = '{"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}'
    reply = post(open_gateway, {"content-type": content_type}, content=body, json=None)
    assert reply.status_code == 415, reply.text
    assert "application/json" in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "http://localhost:3000"},
        {"origin": "http://127.0.0.1:5173", "sec-fetch-site": "same-site"},
        {"origin": "http://[::1]:8000"},
        {"origin": "https://app.example"},  # listed in cors_allowed_origins
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},
        {"host": "localhost:9999"},
        {"host": "gateway.internal"},  # listed in allowed_hosts
    ],
    ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()) or "plain",
)
def test_local_and_allowed_requests_pass(open_gateway, headers) -> None:
    reply = post(open_gateway, headers)
    assert reply.status_code == 200, reply.text


def test_multipart_uploads_still_work(open_gateway) -> None:
    line = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": ' \
           b'{"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}}\n'
    reply = httpx.post(f"{open_gateway.url}/v1/files", data={"purpose": "batch"},
                       files={"file": ("calls.jsonl", line)}, timeout=10)
    assert reply.status_code == 200, reply.text


def test_keyed_calls_skip_the_checks(gateway: ServerProcess) -> None:
    hostile = {"origin": "https://evil.example", "sec-fetch-site": "cross-site",
               "host": "evil.example:8080", "authorization": "Bearer key-chat"}
    assert post(gateway, hostile).status_code == 200
    assert post(gateway, {"origin": "https://evil.example"}).status_code == 401
