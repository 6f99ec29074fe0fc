"""The batch lane's and the upstream client's settings: defaults that fit the base URL, and
callback settings that refuse what would make signatures forgeable."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.batch.records import lane_kind
from gateway.config import ConfigError, ProviderConfig, build_settings
from gateway.providers import build_provider

VENDOR_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


def provider(kind: str, base_url: str, **extra: Any) -> ProviderConfig:
    return ProviderConfig.model_validate(
        {"name": "p", "kind": kind, "base_url": base_url, **extra}
    )


@pytest.mark.parametrize(
    ("kind", "base_url", "lane"),
    [
        ("openai", "https://api.openai.com/v1", "native"),
        ("openai", "https://API.OpenAI.com/v1/", "native"),
        ("anthropic", "https://api.anthropic.com", "native"),
        ("openai", "http://vllm.internal:8000/v1", "emulated"),  # vLLM
        ("openai", "http://127.0.0.1:8080/v1", "emulated"),  # llama.cpp, the simulator
        ("openai", "https://api.anthropic.com/v1", "emulated"),  # not that vendor's own API
        ("anthropic", "http://127.0.0.1:9000", "emulated"),
        ("openai", "https://api.openai.com.evil.example/v1", "emulated"),
        ("gemini", "https://generativelanguage.googleapis.com", "emulated"),
    ],
)
def test_the_batch_lane_defaults_to_native_only_for_the_vendors_own_apis(
    kind: str, base_url: str, lane: str
) -> None:
    config = provider(kind, base_url)
    assert lane_kind(build_provider(config)) == lane


@pytest.mark.parametrize("lane", ["native", "emulated"])
def test_an_explicit_batch_setting_wins(lane: str) -> None:
    assert provider("openai", "http://127.0.0.1:8000/v1", batch=lane).batch == lane
    assert provider("openai", "https://api.openai.com/v1", batch=lane).batch == lane


def test_pool_timeout_defaults_to_30s_and_takes_durations() -> None:
    assert provider("openai", "http://x/v1").pool_timeout == 30.0
    assert provider("openai", "http://x/v1", pool_timeout="250ms").pool_timeout == 0.25
    with pytest.raises(ValueError, match="pool_timeout"):
        provider("openai", "http://x/v1", pool_timeout=0)


@pytest.mark.parametrize("secret", ["", "short", "fifteen-chars!!"])
def test_a_callback_secret_under_16_characters_is_a_config_error_naming_it(secret: str) -> None:
    with pytest.raises(ConfigError, match="callback_secret") as caught:
        build_settings({"callback_secret": secret}, {})
    assert "16" in str(caught.value)
    with pytest.raises(ConfigError, match="callback_secret"):
        build_settings(
            {"callback_secret": "${HOOK_SECRET:-}", "callback_allowed_hosts": ["h.example"]}, {}
        )


def test_callback_settings_that_are_safe_load() -> None:
    settings = build_settings(
        {"callback_secret": "s" * 16, "callback_allowed_hosts": ["h.example", "[::1]:8080"]}, {}
    )
    assert settings.callback_allow_private is False
    assert build_settings({"callback_allow_private": True}, {}).callback_allow_private is True


@pytest.mark.parametrize("entry", ["h.example:0", "h.example:70000", "http://h.example"])
def test_a_bad_callback_host_entry_is_a_config_error_naming_the_field(entry: str) -> None:
    with pytest.raises(ConfigError, match="callback_allowed_hosts"):
        build_settings({"callback_secret": "s" * 16, "callback_allowed_hosts": [entry]}, {})
