"""The authenticator's open/closed state machine and the metrics token (no network)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway.api.browser import CrossSiteRequest
from gateway.auth import ADMIN, DEFAULT_WORKLOAD, Authenticator, KeysUnavailable, hash_key
from gateway.config import build_settings
from gateway.errors import AuthenticationFailed

STORED = {hash_key("gw-stored"): "team-a"}


def auth(env: dict[str, str] | None = None, **document: Any) -> Authenticator:
    document.setdefault("admin_key", "admin-secret")
    return Authenticator(build_settings(document, env or {}))


def scope(key: str | None = None, **headers: str) -> dict[str, Any]:
    raw = [(b"authorization", f"Bearer {key}".encode())] if key else []
    raw += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": "POST", "headers": raw}


def workload(authenticator: Authenticator, key: str | None = None, **headers: str) -> str:
    return authenticator.authenticate(scope(key, **headers)).workload


def test_unknown_until_the_stored_keys_are_read_then_open() -> None:
    gate = auth()
    assert gate.may_open and not gate.open
    with pytest.raises(KeysUnavailable) as unknown:
        gate.authenticate(scope())
    assert unknown.value.status == 503 and unknown.value.headers["retry-after"]
    with pytest.raises(KeysUnavailable):
        gate.authenticate(scope("gw-stored"))
    assert gate.authenticate(scope("admin-secret")) == ADMIN
    gate.load_stored_keys({}, ever_stored=False)
    assert gate.open
    assert workload(gate) == DEFAULT_WORKLOAD
    assert workload(gate, "anything") == DEFAULT_WORKLOAD
    assert gate.authenticate(scope("admin-secret")) == ADMIN


def test_a_stored_key_closes_open_mode_for_good(caplog: pytest.LogCaptureFixture) -> None:
    gate = auth()
    gate.load_stored_keys({}, ever_stored=False)
    with caplog.at_level(logging.INFO, "gateway.auth"):
        gate.load_stored_keys(STORED, ever_stored=True)
    assert "open mode ended" in caplog.text
    assert not gate.may_open
    assert workload(gate, "gw-stored") == "team-a"
    gate.load_stored_keys({}, ever_stored=True)  # every key revoked
    with pytest.raises(AuthenticationFailed, match="no API key yet"):
        gate.authenticate(scope())
    gate.load_stored_keys({}, ever_stored=False)  # even a table that looks empty: still closed
    with pytest.raises(AuthenticationFailed):
        gate.authenticate(scope())


def test_a_revoked_row_at_start_keeps_it_closed() -> None:
    gate = auth()
    gate.load_stored_keys({}, ever_stored=True)
    assert not gate.open and not gate.may_open
    with pytest.raises(AuthenticationFailed):
        gate.authenticate(scope())


def test_not_loopback_is_closed_even_without_keys(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "gateway.auth"):
        gate = auth(host="0.0.0.0")
        gate.load_stored_keys({}, ever_stored=False)
    assert not gate.open
    assert "listening on 0.0.0.0" in caplog.text and "/metrics is public" in caplog.text
    with pytest.raises(AuthenticationFailed, match="POST /v1/gateway/keys"):
        gate.authenticate(scope())
    with pytest.raises(AuthenticationFailed, match="POST /v1/gateway/keys"):
        gate.authenticate(scope("wrong"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_hosts_may_open(host: str) -> None:
    assert auth(host=host).may_open


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "gateway.internal"])
def test_other_hosts_never_open(host: str) -> None:
    gate = auth(host=host)
    assert not gate.may_open
    gate.load_stored_keys({}, ever_stored=False)
    assert not gate.open


def test_an_empty_configured_key_counts_as_configured(caplog: pytest.LogCaptureFixture) -> None:
    workloads = [{"name": "a", "keys": ["k-a"]}, {"name": "etl", "keys": ["x", "${UNSET:-}"]}]
    with caplog.at_level(logging.WARNING, "gateway.auth"):
        gate = auth(workloads=[{"name": "etl", "keys": ["${UNSET:-}"]}])
        gate.load_stored_keys({}, ever_stored=False)
    assert not gate.open and not gate.may_open
    assert "workloads[0].keys[0] is empty and ignored" in caplog.text
    assert build_settings({"workloads": workloads}, {}).empty_workload_keys() == [
        "workloads[1].keys[1]"
    ]


def test_static_keys_work_while_the_stored_keys_are_unknown() -> None:
    gate = auth(workloads=[{"name": "chat", "keys": ["k-chat"]}])
    assert workload(gate, "k-chat") == "chat"
    with pytest.raises(AuthenticationFailed):  # no key can never pass: 401, not 503
        gate.authenticate(scope())
    with pytest.raises(KeysUnavailable):  # might be a stored key
        gate.authenticate(scope("gw-stored"))
    gate.load_stored_keys(STORED, ever_stored=True)
    assert workload(gate, "gw-stored") == "team-a"
    with pytest.raises(AuthenticationFailed, match="Incorrect API key provided.$"):
        gate.authenticate(scope("wrong"))


def test_browser_checks_run_in_open_mode_only() -> None:
    gate = auth()
    gate.load_stored_keys({}, ever_stored=False)
    with pytest.raises(CrossSiteRequest):
        gate.authenticate(scope(origin="https://evil.example"))
    assert gate.authenticate(scope("admin-secret", origin="https://evil.example")) == ADMIN
    gate.load_stored_keys(STORED, ever_stored=True)
    assert workload(gate, "gw-stored", origin="https://evil.example") == "team-a"


def test_metrics_token(caplog: pytest.LogCaptureFixture) -> None:
    public = auth()
    public.authorize_metrics(scope())
    with caplog.at_level(logging.WARNING, "gateway.auth"):
        gate = auth(metrics_token="scrape-me", host="0.0.0.0")
    assert "/metrics is public" not in caplog.text
    with pytest.raises(AuthenticationFailed, match="metrics_token"):
        gate.authorize_metrics(scope())
    with pytest.raises(AuthenticationFailed):
        gate.authorize_metrics(scope("wrong"))
    gate.authorize_metrics(scope("scrape-me"))
    gate.authorize_metrics(scope("admin-secret"))
