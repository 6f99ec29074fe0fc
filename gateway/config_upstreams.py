"""Settings of the upstreams: providers, their models and the models' deployments and prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from gateway.config_fields import (
    VENDOR_BATCH_HOSTS,
    CancelBilling,
    ProviderKind,
    _host,
    _Strict,
    parse_duration,
)
from gateway.defaults import CACHE_PRICE_RATIOS


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
