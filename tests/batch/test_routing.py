"""Routing: `X-Gateway-Mode` over the workload's `mode`; callback hosts from the config only."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth import Identity
from gateway.batch.routing import Router
from gateway.config import build_settings
from gateway.errors import BadRequest


def router(**extra: Any) -> Router:
    document = {
        "workloads": [{"name": "etl", "mode": "batch"}, {"name": "ui", "mode": "stream"}],
        "callback_secret": "s",
        "callback_allowed_hosts": ["hooks.example", "127.0.0.1:9000", "*.corp.example"],
        **extra,
    }
    return Router(build_settings(document, {}))


def scope(**headers: str) -> dict[str, Any]:
    return {"headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


ETL, UI, OTHER = Identity("etl"), Identity("ui"), Identity("default")


def test_the_workload_mode_decides_without_a_header() -> None:
    r = router()
    assert r.defers(ETL, scope()) is True
    assert r.defers(UI, scope()) is False
    assert r.defers(OTHER, scope()) is False


@pytest.mark.parametrize(
    ("value", "deferred"),
    [
        ("batch", True),
        ("BATCH ", True),
        ("auto", False),
        ("stream", False),
        ("sync", False),
    ],
)
def test_the_header_overrides_the_workload(value: str, deferred: bool) -> None:
    r = router()
    for identity in (ETL, UI, OTHER):
        assert r.defers(identity, scope(x_gateway_mode=value)) is deferred


def test_an_unknown_mode_is_a_400_naming_the_header() -> None:
    with pytest.raises(BadRequest) as caught:
        router().defers(OTHER, scope(x_gateway_mode="later"))
    assert caught.value.param == "X-Gateway-Mode"
    assert "X-Gateway-Mode" in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example/done",
        "http://hooks.example:8080/x?y=1",
        "http://127.0.0.1:9000/cb",
        "https://a.corp.example/cb",
        "https://deep.a.corp.example/cb",
    ],
)
def test_allowed_callback_hosts(url: str) -> None:
    assert router().callback_url(scope(x_gateway_callback_url=url)) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/x",
        "http://127.0.0.1:9001/cb",  # the allowed entry names port 9000
        "https://corp.example/x",  # `*.corp.example` is subdomains only
        "https://hooks.example.evil.example/",
        "ftp://hooks.example/x",
        "not a url",
    ],
)
def test_other_callback_urls_are_a_400_naming_the_header(url: str) -> None:
    with pytest.raises(BadRequest) as caught:
        router().callback_url(scope(x_gateway_callback_url=url))
    assert caught.value.param == "X-Gateway-Callback-Url"


def test_no_callback_header_means_no_callback_and_none_are_allowed_by_default() -> None:
    assert router().callback_url(scope()) is None
    bare = Router(build_settings({}, {}))
    with pytest.raises(BadRequest):
        bare.callback_url(scope(x_gateway_callback_url="https://hooks.example/"))
