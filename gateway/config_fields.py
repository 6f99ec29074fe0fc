"""The building blocks of the settings: durations, strict models, the config error, the kinds."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
)

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
