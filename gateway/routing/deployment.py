"""One deployment of a model: where its calls go, and what this process measured of it.

The figures (time to first token, output speed) are moving averages of what the gateway
itself measured on its streams, not a provider's datasheet.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from gateway.config import DeploymentConfig, ModelConfig
from gateway.metrics import DEPLOYMENT_HEALTHY, DEPLOYMENT_IN_FLIGHT, UPSTREAM_ATTEMPTS
from gateway.providers.base import Provider

OUTCOMES = (
    "ok", "unavailable", "timeout", "first_byte_timeout", "server_error", "rate_limited",
    "client_error", "broken_stream", "cancelled",
)  # fmt: skip
# Failures another deployment may not have: retried before the first byte, and counted
# towards a cooldown.
RETRYABLE = frozenset({"unavailable", "timeout", "first_byte_timeout", "server_error",
                       "rate_limited"})  # fmt: skip
SMOOTHING = 0.3  # weight of the newest figure in the moving averages
RECENT_ERRORS = 5


@dataclass(frozen=True, slots=True)
class ErrorNote:
    at: float  # wall clock
    outcome: str
    status: int
    message: str


class Deployment:
    """A model's deployment at run time. `model` is the model's settings as this deployment
    serves it (its provider, upstream model and price): what a call records."""

    __slots__ = ("key", "name", "model", "provider", "weight", "in_flight", "ttft", "tps",
                 "calls", "failures", "consecutive", "errors", "_in_flight", "_healthy",
                 "_attempts")

    def __init__(self, model: ModelConfig, config: DeploymentConfig, provider: Provider) -> None:
        self.name = config.label(model.name)
        self.key = f"{model.name}/{self.name}"
        self.model = serving(model, config)
        self.provider = provider
        self.weight = config.weight
        self.in_flight = 0
        self.ttft: float | None = None  # seconds, moving average
        self.tps: float | None = None  # output tokens per second, moving average
        self.calls = 0  # attempts that answered
        self.failures = 0
        self.consecutive = 0  # failures since the last answer
        self.errors: deque[ErrorNote] = deque(maxlen=RECENT_ERRORS)
        self._in_flight = DEPLOYMENT_IN_FLIGHT.labels(model.name, self.name)
        self._healthy = DEPLOYMENT_HEALTHY.labels(model.name, self.name)
        self._healthy.set(1)
        self._attempts = {o: UPSTREAM_ATTEMPTS.labels(model.name, self.name, o) for o in OUTCOMES}

    def started(self) -> None:
        self.in_flight += 1
        self.provider.in_flight += 1  # the batch lane's emulated calls yield to these
        self._in_flight.inc()

    def stopped(self) -> None:
        self.in_flight -= 1
        self.provider.in_flight -= 1
        self._in_flight.dec()

    def answered(self, ttft: float | None, tps: float | None) -> None:
        """An attempt answered (a stream to its end): the failure run ends, figures move."""
        self.calls += 1
        self.consecutive = 0
        self._attempts["ok"].inc()
        if ttft is not None:
            self.ttft = ttft if self.ttft is None else _moved(self.ttft, ttft)
        if tps is not None:
            self.tps = tps if self.tps is None else _moved(self.tps, tps)

    def failed(self, outcome: str, status: int, message: str) -> None:
        """An attempt failed; only deployment failures (not the client's) extend the run."""
        self._attempts[outcome].inc()
        if outcome in ("client_error", "cancelled"):
            return
        self.failures += 1
        self.consecutive += 1
        self.errors.append(ErrorNote(time.time(), outcome, status, message[:300]))

    def show_health(self, healthy: bool) -> None:
        self._healthy.set(1 if healthy else 0)

    def describe(self) -> dict[str, Any]:
        return {
            "deployment": self.name,
            "provider": self.provider.name,
            "upstream_model": self.model.upstream_name,
            "weight": self.weight,
            "in_flight": self.in_flight,
            "ttft_seconds": self.ttft,
            "output_tokens_per_second": self.tps,
            "calls": self.calls,
            "failures": self.failures,
            "consecutive_failures": self.consecutive,
            "recent_errors": [
                {"at": note.at, "outcome": note.outcome, "status": note.status,
                 "message": note.message}
                for note in self.errors
            ],
        }


def serving(model: ModelConfig, config: DeploymentConfig) -> ModelConfig:
    """The model's settings as `config` serves it (the model itself if nothing differs)."""
    price = config.price or model.price
    if (config.provider, config.upstream_model, price) == (
        model.provider, model.upstream_model, model.price
    ):
        return model
    return model.model_copy(
        update={"provider": config.provider, "upstream_model": config.upstream_model,
                "price": price, "deployments": [config]}
    )


def _moved(average: float, value: float) -> float:
    return average + SMOOTHING * (value - average)
