"""Settings: interpolation, overrides, defaults and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, build_settings, load_settings, parse_duration

BASE = {
    "providers": [{"name": "up", "kind": "openai", "base_url": "http://127.0.0.1:1/v1",
                   "api_key": "${UP_KEY}"}],
    "models": [{"name": "m", "provider": "up", "upstream_model": "real-m",
                "price": {"input": 1, "output": 2}}],
    "workloads": [{"name": "w", "keys": ["${W_KEY:-}"]}],
}


def test_interpolation_and_defaults() -> None:
    settings = build_settings(BASE, {"UP_KEY": "secret", "W_KEY": "wk"})
    assert settings.providers[0].api_key.get_secret_value() == "secret"
    assert settings.workloads[0].keys[0].get_secret_value() == "wk"
    assert settings.model("m").upstream_name == "real-m"
    assert settings.providers[0].billing_after_cancel == "delivered"
    assert settings.host == "127.0.0.1"


def test_empty_default_key_is_dropped() -> None:
    settings = build_settings(BASE, {"UP_KEY": "s"})
    assert settings.workloads[0].keys == []
    assert settings.empty_workload_keys() == ["workloads[0].keys[0]"]  # but remembered
    assert build_settings(BASE, {"UP_KEY": "s", "W_KEY": "k"}).empty_workload_keys() == []


def test_exposure_settings_from_the_environment() -> None:
    env = {"UP_KEY": "s", "GATEWAY_METRICS_TOKEN": "t", "GATEWAY_ALLOWED_HOSTS": "A.lan, b.lan",
           "GATEWAY_CORS_ALLOWED_ORIGINS": "https://App.example/"}
    settings = build_settings(BASE, env)
    assert settings.metrics_token is not None and settings.metrics_token.get_secret_value() == "t"
    assert settings.allowed_hosts == ["a.lan", "b.lan"]
    assert settings.cors_allowed_origins == ["https://app.example"]
    defaults = build_settings(BASE, {"UP_KEY": "s"})
    assert defaults.metrics_token is None and defaults.allowed_hosts == []
    with pytest.raises(ConfigError, match="metrics_token: .*empty"):
        build_settings(BASE, {"UP_KEY": "s", "GATEWAY_METRICS_TOKEN": ""})


def test_missing_variable_names_field_and_variable() -> None:
    with pytest.raises(ConfigError, match=r"providers\[0\]\.api_key: .*UP_KEY"):
        build_settings(BASE, {})


def test_env_overrides_and_precedence() -> None:
    env = {"UP_KEY": "s", "GATEWAY_PORT": "9999", "GATEWAY_DATABASE_URL": "sqlite+aiosqlite://"}
    settings = build_settings(dict(BASE), env, {"port": 7000})
    assert settings.port == 7000
    assert settings.database_url == "sqlite+aiosqlite://"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"port": "not-a-port"}, r"port: "),
        ({"providers": [{"name": "x", "kind": "bogus", "base_url": "http://a"}]},
         r"providers\[0\]\.kind"),
        ({"providers": [{"name": "x", "kind": "openai", "base_url": "ftp://a"}]},
         r"providers\[0\]\.base_url"),
        ({"models": [{"name": "m", "provider": "nope"}]}, r"models\[0\]\.provider: unknown"),
        ({"workloads": [{"name": "w", "mode": "sometimes"}]}, r"workloads\[0\]\.mode"),
        ({"unknown_setting": 1}, r"unknown_setting"),
    ],
)
def test_bad_config_names_the_field(patch: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_settings({**BASE, **patch}, {"UP_KEY": "s"})


def test_duplicate_keys_across_workloads_are_refused() -> None:
    doc = {**BASE, "workloads": [{"name": "a", "keys": ["k"]}, {"name": "b", "keys": ["k"]}]}
    with pytest.raises(ConfigError, match="same key"):
        build_settings(doc, {"UP_KEY": "s"})


def test_no_config_and_no_credentials_serves_the_simulator(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={}, overrides={"port": 8123})
    assert settings.simulator is True
    assert "sim-gpt" in [m.name for m in settings.models]
    assert settings.providers[0].base_url.startswith("http://127.0.0.1:8123/sim")
    assert settings.workloads == []


def test_no_config_with_credentials_uses_the_vendor(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={"OPENAI_API_KEY": "sk-test"})
    assert settings.simulator is False
    assert settings.providers[0].name == "openai"
    assert settings.model("gpt-4o-mini") is not None


def test_yaml_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("providers: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(str(path), env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(str(tmp_path / "missing.yaml"), env={})


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("5m", 300),
                                               ("1h", 3600), (12, 12)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds
