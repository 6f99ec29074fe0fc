"""Settings: a YAML file with ${ENV} interpolation, GATEWAY_* overrides and embedded defaults.

This is the only module that reads the process environment; everything else receives a
`Settings` object.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.defaults import CACHE_PRICE_RATIOS, default_document

ProviderKind = Literal["openai", "anthropic", "gemini"]
CancelBilling = Literal["delivered", "generated", "full"]
RoutingMode = Literal["auto", "stream", "sync", "batch"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CALLBACK_SECRET_MIN = 16
_CALLBACK_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9_.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


# The hosts of the vendors' own APIs, which have a Batch API (the default lane is native there).
VENDOR_BATCH_HOSTS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}


class ConfigError(Exception):
    """A configuration problem, with a message that names the field."""


def _host(url: Any) -> str | None:
    try:
        return urlsplit(url).hostname if isinstance(url, str) else None
    except ValueError:
        return None


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as `500ms`, `30s`, `5m`, `1h`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """USD per million tokens. Cached input read from and written to the provider's prompt
    cache has its own prices; unset, they follow the provider kind (`for_kind`)."""

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)
    cache_read: float | None = Field(None, ge=0)
    cache_write: float | None = Field(None, ge=0)

    def for_kind(self, kind: str) -> Price:
        """These prices with the cache prices a provider of `kind` charges when unset."""
        if self.cache_read is not None and self.cache_write is not None:
            return self
        ratios = CACHE_PRICE_RATIOS[kind]
        base = Decimal(str(self.input))
        read, write = (float(base * ratio) for ratio in ratios)
        return self.model_copy(
            update={
                "cache_read": read if self.cache_read is None else self.cache_read,
                "cache_write": write if self.cache_write is None else self.cache_write,
            }
        )


class ProviderConfig(_Strict):
    name: str = Field(min_length=1)
    kind: ProviderKind
    base_url: str
    api_key: SecretStr | None = None
    # unset: `native` for the vendors' own APIs (VENDOR_BATCH_HOSTS), `emulated` for any other
    # base URL (vLLM, llama.cpp, the simulator), where a Batch API call would only 404
    batch: Literal["native", "emulated"] = "emulated"
    batch_max_items: int = Field(10_000, ge=1)
    batch_max_wait: float = 3600.0
    batch_concurrency: int = Field(4, ge=1)
    cancel_billing: CancelBilling | None = None
    stream_usage: bool = True
    # the server has the Responses API (`/responses`): relayed natively, else translated to
    # chat completions; None: only api.openai.com has it
    responses_api: bool | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    max_connections: int = Field(1000, ge=1)
    pool_timeout: float = Field(30.0, gt=0)  # longest wait for a free pooled connection
    headers: dict[str, str] = Field(default_factory=dict)
    # emulated lane: start no new call while this many interactive calls are in flight (0: never)
    batch_yield_inflight: int = Field(8, ge=0)

    _durations = field_validator(
        "batch_max_wait", "connect_timeout", "read_timeout", "pool_timeout", mode="before"
    )(parse_duration)

    @model_validator(mode="before")
    @classmethod
    def _default_batch_lane(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("batch") is None:
            native = VENDOR_BATCH_HOSTS.get(str(data.get("kind"))) == _host(data.get("base_url"))
            data = {**data, "batch": "native" if native else "emulated"}
        return data

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def serves_responses(self) -> bool:
        """Whether `/v1/responses` calls are relayed natively to this (OpenAI-kind) provider."""
        if self.kind != "openai":
            return False
        if self.responses_api is not None:
            return self.responses_api
        return self.base_url.startswith("https://api.openai.com")

    @property
    def billing_after_cancel(self) -> CancelBilling:
        """What the provider bills for an aborted call (WIRE.md defaults per kind)."""
        if self.cancel_billing is not None:
            return self.cancel_billing
        return "full" if self.kind == "gemini" else "delivered"


RoutingStrategy = Literal["weighted", "least_inflight", "lowest_ttft"]


class DeploymentConfig(_Strict):
    """One place a model is served: a provider and the model name sent to it."""

    provider: str
    upstream_model: str | None = None
    weight: float = Field(1.0, ge=0)  # 0: a standby, tried only after the weighted ones
    name: str | None = Field(None, min_length=1)  # default: `provider/upstream model`
    price: Price | None = None  # default: the model's

    def label(self, model: str) -> str:
        """The deployment's name in metrics and the deployments API."""
        return self.name or f"{self.provider}/{self.upstream_model or model}"


class ModelConfig(_Strict):
    """A model clients name. `provider`/`upstream_model` is the one-deployment form; with
    `deployments` they hold the first deployment's (the batch lane and token counting use it)."""

    name: str = Field(min_length=1)
    provider: str
    upstream_model: str | None = None
    deployments: list[DeploymentConfig] = Field(default_factory=list)
    routing: RoutingStrategy = "weighted"
    fallbacks: list[str] = Field(default_factory=list)  # other models, tried in order
    retries: int | None = Field(None, ge=0, le=20)  # unset: each deployment once
    first_byte_timeout: float | None = None  # unset: no limit (read_timeout still applies)
    cooldown: float = 30.0  # skip a failing deployment this long (0: never)
    cooldown_failures: int = Field(3, ge=1)  # ... after this many failures in a row
    price: Price = Price()
    batch_discount: float = Field(0.5, ge=0, le=1)
    # the most output tokens one call can produce; unset: the upstream model family's
    # (gateway.ledger.limits). It caps every estimated bill.
    max_output_tokens: int | None = Field(None, ge=1)
    # whether `deployments` was written in the config (field names in messages)
    _listed: bool = PrivateAttr(default=False)

    _durations = field_validator("cooldown", mode="before")(parse_duration)

    @field_validator("first_byte_timeout", mode="before")
    @classmethod
    def _first_byte(cls, value: Any) -> float | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("must be greater than zero (leave it unset for no limit)")
        return seconds

    @model_validator(mode="wrap")
    @classmethod
    def _one_form(cls, data: Any, handler: Any) -> Any:
        """Either `provider` (one deployment) or `deployments`; each fills in the other."""
        listed = isinstance(data, dict) and bool(data.get("deployments"))
        if isinstance(data, dict):
            data = _deployment_form(data, listed)
        model = handler(data)
        model._listed = listed
        return model

    @model_validator(mode="after")
    def _deployment_names(self) -> ModelConfig:
        names = [d.label(self.name) for d in self.deployments]
        for index, name in enumerate(names):
            if names.index(name) != index:
                raise ValueError(
                    f"deployments[{index}]: a second deployment named {name!r} (give it a `name`)"
                )
        if not any(d.weight > 0 for d in self.deployments):
            raise ValueError("deployments: at least one needs a weight above 0")
        return self

    @property
    def upstream_name(self) -> str:
        return self.upstream_model or self.name

    @property
    def attempts(self) -> int:
        """Attempts a call makes on this model's deployments (`retries` + 1)."""
        retries = len(self.deployments) - 1 if self.retries is None else self.retries
        return retries + 1


def _deployment_form(data: dict[str, Any], listed: bool) -> dict[str, Any]:
    if not listed:
        if data.get("provider") is None:
            return data  # `provider` is required: its own message says so
        deployment = {"provider": data["provider"], "upstream_model": data.get("upstream_model")}
        return {**data, "deployments": [deployment]}
    first = data["deployments"][0] if isinstance(data["deployments"], list) else None
    if not isinstance(first, dict):
        return data
    primary = {
        "provider": first.get("provider") or "", "upstream_model": first.get("upstream_model")
    }
    given = {key: data[key] for key in primary if data.get(key) is not None}
    if given and any(primary[key] != value for key, value in given.items()):
        raise ValueError(
            "give either provider/upstream_model (one deployment) or deployments, not both"
        )
    return {**data, **primary}


def _exact(value: Any) -> Any:
    """A USD amount as a Decimal read from its text (0.1 stays 0.1, not its binary double)."""
    if isinstance(value, bool):
        raise ValueError("expected an amount in USD")
    if isinstance(value, int | float | str):
        try:
            value = Decimal(str(value).strip())
        except ArithmeticError:
            raise ValueError(f"expected an amount in USD, got {value!r}") from None
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("expected a finite amount in USD")
    return value


class Limits(_Strict):
    """What one workload or one key may use (README "Limits and budgets"); unset: no limit."""

    rpm: int | None = Field(None, ge=1)  # requests per minute
    tpm: int | None = Field(None, ge=1)  # tokens per minute (prompt + the call's max output)
    concurrency: int | None = Field(None, ge=1)  # calls in flight at once
    usd_per_day: Decimal | None = Field(None, ge=0)  # spend per UTC day
    usd_per_month: Decimal | None = Field(None, ge=0)  # spend per UTC calendar month

    _money = field_validator("usd_per_day", "usd_per_month", mode="before")(_exact)

    @property
    def any(self) -> bool:
        return any(value is not None for value in self.__dict__.values())

    @property
    def budgets(self) -> bool:
        return self.usd_per_day is not None or self.usd_per_month is not None


class KeyConfig(_Strict):
    """A `keys` entry: a plain string, or `{key, limits}` for a key with limits of its own."""

    key: SecretStr
    limits: Limits = Limits()

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: Any) -> Any:
        return {"key": data} if isinstance(data, str | SecretStr) else data

    def get_secret_value(self) -> str:
        """The key itself (an entry reads like the plain `SecretStr` it may be written as)."""
        return self.key.get_secret_value()


def _empty_key(entry: Any) -> bool:
    if isinstance(entry, dict):
        entry = entry.get("key")
    return entry in (None, "")


class WorkloadConfig(_Strict):
    name: str = Field(min_length=1)
    keys: list[KeyConfig] = Field(default_factory=list)
    limits: Limits = Limits()
    mode: RoutingMode = "auto"
    on_cancel: Literal["abort", "drain"] = "abort"
    # Indexes of `keys` entries that were empty (e.g. `${VAR:-}` with VAR unset): dropped, but
    # they still count as configured keys, so the gateway never runs open because of them.
    _empty_keys: tuple[int, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _drop_empty_keys(cls, data: Any, handler: Any) -> Any:
        empty: tuple[int, ...] = ()
        if isinstance(data, dict) and isinstance(data.get("keys"), list):
            empty = tuple(i for i, key in enumerate(data["keys"]) if _empty_key(key))
            data = {**data, "keys": [key for key in data["keys"] if not _empty_key(key)]}
        workload = handler(data)
        if empty:
            workload._empty_keys = empty
        return workload


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
