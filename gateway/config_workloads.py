"""Settings of the callers: workloads, their keys and the limits and budgets of both."""

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
    RoutingMode,
    _Strict,
)


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
