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
        "callback_secret": "a-secret-of-16-chars-or-more",
        "callback_allowed_hosts": [
            "hooks.example",
            "alt.example:8443",
            "127.0.0.1:9000",
            "[::1]:9001",
            "10.1.2.3",
            "*.corp.example",
        ],
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
        "http://hooks.example/x?y=1",  # an entry without a port: the scheme's default port
        "https://hooks.example:443/done",
        "https://alt.example:8443/x",
        "http://127.0.0.1:9000/cb",  # a private address named by its own literal entry
        "http://[::1]:9001/cb",
        "http://[0:0::1]:9001/cb",
        "http://10.1.2.3/cb",
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
        "http://hooks.example:8080/x",  # no port in the entry: 80 for http only
        "https://hooks.example:8443/x",
        "http://hooks.example:443/x",  # 443 is https's port, not http's
        "https://alt.example/x",  # the entry names 8443
        "http://10.1.2.3:8080/cb",
        "https://a.corp.example:8443/cb",
        "https://corp.example/x",  # `*.corp.example` is subdomains only
        "https://hooks.example.evil.example/",
        "http://127.0.0.2:9000/cb",
        "ftp://hooks.example/x",
        "not a url",
        "http://[::1",  # malformed: urlsplit raises
        "http://[::1]:9001:9001/x",
        "http://hooks.example:99999/x",
        "http://user:pw@hooks.example/x",
    ],
)
def test_other_callback_urls_are_a_400_naming_the_header(url: str) -> None:
    with pytest.raises(BadRequest) as caught:
        router().callback_url(scope(x_gateway_callback_url=url))
    assert caught.value.param == "X-Gateway-Callback-Url"


def test_a_private_address_needs_its_own_literal_entry_or_callback_allow_private() -> None:
    hosts = {"callback_allowed_hosts": ["hooks.example", "*.corp.example"]}
    for url in ("http://127.0.0.1/x", "http://[::1]/x", "http://169.254.169.254/latest"):
        with pytest.raises(BadRequest) as caught:
            router(**hosts).callback_url(scope(x_gateway_callback_url=url))
        assert caught.value.param == "X-Gateway-Callback-Url"


def test_no_callback_header_means_no_callback_and_none_are_allowed_by_default() -> None:
    assert router().callback_url(scope()) is None
    bare = Router(build_settings({}, {}))
    with pytest.raises(BadRequest):
        bare.callback_url(scope(x_gateway_callback_url="https://hooks.example/"))
