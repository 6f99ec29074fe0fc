"""Settings: a YAML file with ${ENV} interpolation, GATEWAY_* overrides and embedded defaults.

`Settings` (the top level) and the loading are here; providers, models and deployments are in
`config_upstreams`, workloads, keys and limits in `config_workloads`.

This is the only module that reads the process environment; everything else receives a
`Settings` object.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.config_fields import (
    _CALLBACK_HOST,
    _ENV_REF,
    CALLBACK_SECRET_MIN,
    ConfigError,
    _Strict,
    parse_duration,
)
from gateway.config_upstreams import DeploymentConfig, ModelConfig, Price, ProviderConfig
from gateway.config_workloads import KeyConfig, Limits, WorkloadConfig
from gateway.defaults import default_document

# The settings' parts live in config_fields, config_upstreams and config_workloads; the rest of
# the gateway imports them from here.
__all__ = [
    "CALLBACK_SECRET_MIN", "ConfigError", "DeploymentConfig", "KeyConfig", "Limits",
    "ModelConfig", "Price", "ProviderConfig", "Settings", "WorkloadConfig", "build_settings",
    "export_for_workers", "interpolate", "load_settings", "parse_duration",
    "prometheus_multiprocess_dir", "resolve_config_path",
]


class Settings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    database_url: str = "sqlite+aiosqlite:///./gateway.db"
    redis_url: str | None = None
    journal_dir: str | None = None  # the call journal; default: next to the ledger spool
    admin_key: SecretStr | None = None
    # Who may reach the gateway: /metrics' bearer token, and the Host names and browser
    # origins accepted in open mode besides loopback ones (README "Security").
    metrics_token: SecretStr | None = None
    allowed_hosts: list[str] = Field(default_factory=list)
    # Browser origins allowed to call the gateway (CORS; "*" allows any; empty: CORS is off),
    # also trusted by the open-mode browser checks.
    cors_allowed_origins: list[str] = Field(default_factory=list)
    # The batch lane (gateway/batch): worker, leases, polling, files and callbacks.
    batch_worker: bool = True  # `gateway serve` runs the batch worker in-process
    batch_lease: float = 30.0  # a worker's hold on a running call or a queue entry
    batch_poll_interval: float = 5.0  # first poll of a provider job; doubles up to ...
    batch_poll_max: float = 300.0
    batch_reconcile_interval: float = 5.0  # re-enqueue queued calls the queue lost
    batch_max_attempts: int = Field(3, ge=1)  # runs of a call (expired or retryable failures)
    batch_file_max_bytes: int = Field(100 * 1024 * 1024, ge=1024)
    callback_allowed_hosts: list[str] = Field(default_factory=list)
    callback_secret: SecretStr | None = None  # at least CALLBACK_SECRET_MIN characters
    callback_allow_private: bool = False  # deliver to private addresses a host name resolves to
    callback_max_attempts: int = Field(8, ge=1)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # Slow or oversized requests (gateway/api/limits.py, gateway/api/protocol.py).
    max_header_bytes: int = Field(64 * 1024, ge=1024)  # request line + headers; more -> 431
    client_header_timeout: float = 10.0  # the request head must arrive within this -> 408
    client_body_timeout: float = 30.0  # longest wait for the next piece of a body -> 408
    abort_on_disconnect: bool = True
    drain_max_concurrent: int = Field(64, ge=0)
    drain_timeout: float = 60.0
    shutdown_grace: float = 30.0  # on SIGTERM: how long open calls may run on before the exit
    # Limits and budgets (gateway/budgets): a live call's reservation lapses this long after
    # its gateway process last renewed it (every third of it), a deferred call's after
    # `batch_reservation_ttl`, so a crashed process leaks nothing.
    reservation_ttl: float = 60.0
    batch_reservation_ttl: float = 26 * 3600.0
    simulator: bool = False
    providers: list[ProviderConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)
    workloads: list[WorkloadConfig] = Field(default_factory=list)

    _durations = field_validator(
        "drain_timeout", "shutdown_grace", "client_header_timeout", "client_body_timeout",
        "reservation_ttl", "batch_reservation_ttl", mode="before",
    )(parse_duration)

    _batch_durations = field_validator(
        "batch_lease", "batch_poll_interval", "batch_poll_max", "batch_reconcile_interval",
        mode="before",
    )(parse_duration)

    @field_validator(
        "batch_lease", "batch_poll_interval", "batch_reconcile_interval",
        "client_header_timeout", "client_body_timeout", "reservation_ttl",
        "batch_reservation_ttl",
    )
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than zero")
        return value

    @field_validator("models")
    @classmethod
    def _cache_prices(cls, models: list[ModelConfig], info: ValidationInfo) -> list[ModelConfig]:
        """Unset cache prices follow the kind of each model's provider; a deployment's price
        (its own, else the model's) follows the kind of the deployment's provider."""
        kinds = {p.name: p.kind for p in info.data.get("providers", ())}
        priced = []
        for model in models:
            if any(d.provider not in kinds for d in model.deployments):
                priced.append(model)  # `_check_references` names the unknown provider
                continue
            deployments = [
                d.model_copy(update={"price": (d.price or model.price).for_kind(kinds[d.provider])})
                for d in model.deployments
            ]
            price = model.price.for_kind(kinds[model.provider])
            copy = model.model_copy(update={"price": price, "deployments": deployments})
            copy._listed = model._listed
            priced.append(copy)
        return priced

    @field_validator(
        "callback_allowed_hosts", "allowed_hosts", "cors_allowed_origins", mode="before"
    )
    @classmethod
    def _host_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # GATEWAY_CALLBACK_ALLOWED_HOSTS=a.example,b.example
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @field_validator("callback_allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        from gateway.batch.allowlist import parse_entry  # the one parser of these entries

        for host in value:
            if not _CALLBACK_HOST.match(host):
                raise ValueError(f"{host!r} is not a host name, `host:port` or `*.domain`")
            parse_entry(host)
        return [host.lower() for host in value]

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin such as https://app.example")
        return [origin.rstrip("/") for origin in value]
    @field_validator("callback_secret")
    @classmethod
    def _callback_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < CALLBACK_SECRET_MIN:
            raise ValueError(
                f"must be at least {CALLBACK_SECRET_MIN} characters (a short secret makes "
                "callback signatures forgeable)"
            )
        return value

    @model_validator(mode="after")
    def _batch_consistency(self) -> Settings:
        if self.callback_allowed_hosts and self.callback_secret is None:
            raise ValueError("callback_secret: required when callback_allowed_hosts is set")
        if self.batch_poll_max < self.batch_poll_interval:
            raise ValueError("batch_poll_max: must not be less than batch_poll_interval")
        return self

    @field_validator("allowed_hosts", "cors_allowed_origins")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [item.strip().lower().rstrip("/") for item in value]

    @field_validator("metrics_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty (leave it unset for a public /metrics)")
        return value

    def empty_workload_keys(self) -> list[str]:
        """Fields of `keys` entries that were empty and ignored, as `workloads[i].keys[j]`."""
        return [
            f"workloads[{i}].keys[{j}]"
            for i, workload in enumerate(self.workloads)
            for j in workload._empty_keys
        ]

    def provider(self, name: str) -> ProviderConfig:
        return next(p for p in self.providers if p.name == name)

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)


_SCALAR_OVERRIDES = {
    name: field.annotation
    for name, field in Settings.model_fields.items()
    if name not in ("providers", "models", "workloads")
}


def interpolate(value: Any, env: Mapping[str, str], where: str = "") -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a parsed YAML document."""
    if isinstance(value, dict):
        return {
            k: interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _ENV_REF.sub(substitute, value)


def _apply_env_overrides(document: dict[str, Any], env: Mapping[str, str]) -> None:
    for name in _SCALAR_OVERRIDES:
        key = f"GATEWAY_{name.upper()}"
        if key in env:
            document[name] = env[key]


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _check_references(settings: Settings) -> None:
    providers = [p.name for p in settings.providers]
    for index, model in enumerate(settings.models):
        for number, deployment in enumerate(model.deployments):
            if deployment.provider not in providers:
                field = f"deployments[{number}].provider" if model._listed else "provider"
                raise ConfigError(
                    f"models[{index}].{field}: unknown provider {deployment.provider!r}"
                    f" (configured: {', '.join(providers) or 'none'})"
                )
    for section, names in (
        ("providers", providers),
        ("models", [m.name for m in settings.models]),
        ("workloads", [w.name for w in settings.workloads]),
    ):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"{section}: duplicate name {duplicates[0]!r}")
    _check_fallbacks(settings.models)
    seen: dict[str, str] = {}
    for workload in settings.workloads:
        for key in workload.keys:
            secret = key.get_secret_value()
            if secret in seen:
                raise ConfigError(
                    f"workloads: the same key is listed for {seen[secret]!r} and {workload.name!r}"
                )
            seen[secret] = workload.name


def _check_fallbacks(models: list[ModelConfig]) -> None:
    """Every fallback names a configured model, and no chain of fallbacks comes back."""
    by_name = {model.name: model for model in models}
    for index, model in enumerate(models):
        for number, name in enumerate(model.fallbacks):
            if name not in by_name:
                raise ConfigError(
                    f"models[{index}].fallbacks[{number}]: unknown model {name!r}"
                )

    def walk(path: list[str]) -> None:
        for name in by_name[path[-1]].fallbacks:
            if name in path:
                index = list(by_name).index(path[0])
                cycle = " -> ".join([*path[path.index(name):], name])
                raise ConfigError(f"models[{index}].fallbacks: a cycle {cycle}")
            walk([*path, name])

    for model in models:
        walk([model.name])


def build_settings(
    document: dict[str, Any],
    env: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Validate a (parsed, not yet interpolated) config document into Settings.

    Precedence: command-line overrides, then GATEWAY_* variables, then the document.
    """
    document = interpolate(document, env)
    _apply_env_overrides(document, env)
    document.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        settings = Settings.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{_field_path(err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
    _check_references(settings)
    return settings


def resolve_config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """--config, else GATEWAY_CONFIG, else ./gateway.yaml if present, else None (defaults)."""
    if explicit:
        return Path(explicit)
    if env.get("GATEWAY_CONFIG"):
        return Path(env["GATEWAY_CONFIG"])
    local = Path("gateway.yaml")
    return local if local.exists() else None


def load_settings(
    path: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load settings from the resolved config file, or the embedded defaults without one."""
    env = os.environ if env is None else env
    overrides = overrides or {}
    config_path = resolve_config_path(path, env)
    if config_path is None:
        port = overrides.get("port") or env.get("GATEWAY_PORT") or 8080
        try:
            port = int(port)
        except ValueError:
            raise ConfigError(f"port: expected an integer, got {port!r}") from None
        return build_settings(default_document(env, port), env, overrides)
    try:
        document = yaml.safe_load(config_path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {config_path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping of settings")
    return build_settings(document, env, overrides)


def prometheus_multiprocess_dir() -> str | None:
    """Where prometheus-client keeps per-process metric files under `--workers N`."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def export_for_workers(path: str | None, overrides: Mapping[str, Any]) -> None:
    """Hand the resolved config to worker processes (they rebuild Settings from the env).

    Also gives them one fresh metrics directory so `/metrics` on any worker reports the
    whole server (prometheus-client's multiprocess mode).
    """
    if not prometheus_multiprocess_dir():
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")
    if path:
        os.environ["GATEWAY_CONFIG"] = str(Path(path).resolve())
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"GATEWAY_{name.upper()}"] = str(value)
