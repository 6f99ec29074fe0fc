"""The embedded configuration used when no config file exists.

Providers come from the credentials found in the environment; with none, the gateway serves
the built-in simulator's models so every endpoint can be tried offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

SIM_MOUNT = "/sim"

# Cached input prices as a multiple of the input price, per provider kind, for models whose
# `price` sets none: (cache read, cache write). Where the vendor bills no cache writes, a
# written token costs what any input token costs.
CACHE_PRICE_RATIOS: dict[str, tuple[Decimal, Decimal]] = {
    "openai": (Decimal("0.5"), Decimal("1")),
    "anthropic": (Decimal("0.1"), Decimal("1.25")),
    "gemini": (Decimal("0.25"), Decimal("1")),
}

_VENDORS: list[dict[str, Any]] = [
    {
        "env": "OPENAI_API_KEY",
        "provider": {"name": "openai", "kind": "openai", "base_url": "https://api.openai.com/v1"},
        # (name, input, output, cache read, cache write): USD per million tokens
        "models": [
            ("gpt-4o-mini", 0.15, 0.60, 0.075, 0.15),
            ("gpt-4o", 2.50, 10.00, 1.25, 2.50),
            ("gpt-4.1-mini", 0.40, 1.60, 0.10, 0.40),
            ("text-embedding-3-small", 0.02, 0.0, 0.02, 0.02),
        ],
    },
    {
        "env": "ANTHROPIC_API_KEY",
        "provider": {
            "name": "anthropic",
            "kind": "anthropic",
            "base_url": "https://api.anthropic.com",
        },
        "models": [
            ("claude-sonnet-4-5", 3.00, 15.00, 0.30, 3.75),
            ("claude-haiku-4-5", 1.00, 5.00, 0.10, 1.25),
        ],
    },
    {
        "env": "GEMINI_API_KEY",
        "provider": {
            "name": "gemini",
            "kind": "gemini",
            "base_url": "https://generativelanguage.googleapis.com",
        },
        "models": [
            ("gemini-2.5-flash", 0.30, 2.50, 0.03, 0.30),
            ("gemini-2.5-pro", 1.25, 10.00, 0.125, 1.25),
        ],
    },
]

SIM_MODELS = [
    # (name, provider kind, input price, output price): priced like small hosted models so the
    # ledger and dashboard show realistic figures in the demo.
    ("sim-gpt", "openai", 0.15, 0.60),
    ("sim-small", "openai", 0.10, 0.40),
    ("sim-embed", "openai", 0.02, 0.0),
    ("sim-claude", "anthropic", 1.00, 5.00),
    ("sim-gemini", "gemini", 0.30, 2.50),
]


def _model(name: str, provider: str, *prices: float) -> dict[str, Any]:
    """A model entry; prices in the order input, output[, cache read, cache write]."""
    price = dict(zip(("input", "output", "cache_read", "cache_write"), prices, strict=False))
    return {"name": name, "provider": provider, "price": price}


def simulator_document(port: int) -> dict[str, Any]:
    """Providers and models served by the simulator mounted inside the gateway itself."""
    base = f"http://127.0.0.1:{port}{SIM_MOUNT}"
    kinds = sorted({kind for _, kind, _, _ in SIM_MODELS})
    providers = [
        {
            "name": f"sim-{kind}",
            "kind": kind,
            "base_url": f"{base}/v1" if kind == "openai" else base,
            "api_key": "sim",
            "batch": "emulated",
        }
        for kind in kinds
    ]
    models = [_model(name, f"sim-{kind}", pi, po) for name, kind, pi, po in SIM_MODELS]
    return {"simulator": True, "providers": providers, "models": models}


def default_document(env: Mapping[str, str], port: int = 8080) -> dict[str, Any]:
    """The config document used without a config file."""
    providers: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    for vendor in _VENDORS:
        key = env.get(vendor["env"])
        if not key:
            continue
        provider = dict(vendor["provider"], api_key=key)
        providers.append(provider)
        models.extend(_model(name, provider["name"], *prices) for name, *prices in vendor["models"])
    if not providers:
        return simulator_document(port)
    return {"providers": providers, "models": models}
