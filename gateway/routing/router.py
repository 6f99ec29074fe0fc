"""The router: each model's deployments, strategy and fallbacks, and their health.

Built once from the settings. `plan` gives a call the deployments it may try, in order
(`gateway.routing.plan`); `failed` is told of every failure and starts cooldowns; a task keeps
the cooldowns in step with the other replicas and the health gauges current.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gateway.config import ModelConfig, Settings
from gateway.errors import ModelNotFound
from gateway.providers.base import Provider
from gateway.routing.cooldown import REFRESH, Cooldowns
from gateway.routing.deployment import RETRYABLE, Deployment
from gateway.routing.plan import Plan
from gateway.routing.strategies import STRATEGIES

if TYPE_CHECKING:
    from gateway.routing.plan import Build

log = logging.getLogger("gateway.routing")

MAX_RETRY_AFTER = 3600.0  # a longer retry-after still cools the deployment for an hour only


class ModelRoute:
    """A model's deployments, its strategy and the models it falls back to, in order."""

    __slots__ = ("config", "deployments", "order", "chain", "served")

    def __init__(self, config: ModelConfig, deployments: list[Deployment]) -> None:
        self.config = config
        self.deployments = deployments
        self.order = STRATEGIES[config.routing]
        self.chain: list[ModelRoute] = []  # every fallback, depth first, each once
        # Every model (a deployment's, with its own prices) a call may be served by: the
        # limits reserve the dearest of them.
        self.served: list[ModelConfig] = [d.model for d in deployments]

    @property
    def primary(self) -> Deployment:
        return self.deployments[0]


class Router:
    def __init__(self, settings: Settings, providers: Mapping[str, Provider]) -> None:
        self.routes: dict[str, ModelRoute] = {
            model.name: ModelRoute(
                model, [Deployment(model, d, providers[d.provider]) for d in model.deployments]
            )
            for model in settings.models
        }
        for route in self.routes.values():
            route.chain = [self.routes[name] for name in _fallbacks(route.config, self.routes)]
            route.served = [d.model for r in (route, *route.chain) for d in r.deployments]
        self.deployments = [d for route in self.routes.values() for d in route.deployments]
        self.cooldowns = Cooldowns(settings.redis_url)
        self.rng = random.Random()
        self._task: asyncio.Task[None] | None = None

    def route(self, name: str) -> ModelRoute:
        route = self.routes.get(name)
        if route is None:
            raise ModelNotFound(
                f"The model `{name}` does not exist or you do not have access to it.",
                param="model",
            )
        return route

    def plan(self, name: str, build: Build) -> Plan:
        """The deployments a call of model `name` may try, its first attempt built."""
        return Plan(self, self.route(name), build)

    def cooling(self, deployment: Deployment) -> bool:
        return self.cooldowns.until(deployment.key) is not None

    def failed(
        self,
        route: ModelRoute,
        deployment: Deployment,
        outcome: str,
        status: int,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        """An attempt on `deployment` failed: count it, and cool the deployment down after
        `cooldown_failures` failures in a row, or for a 429's retry-after."""
        deployment.failed(outcome, status, message)
        config = route.config
        if outcome not in RETRYABLE or config.cooldown <= 0:
            return
        if retry_after:
            self._cool(deployment, min(retry_after, MAX_RETRY_AFTER), "its retry-after")
        elif deployment.consecutive >= config.cooldown_failures:
            self._cool(deployment, config.cooldown, f"{deployment.consecutive} failures in a row")

    def _cool(self, deployment: Deployment, seconds: float, why: str) -> None:
        if not self.cooling(deployment):
            log.warning("routing: deployment %s cools down for %.3gs (%s)", deployment.key,
                        seconds, why)  # fmt: skip
        self.cooldowns.start(deployment.key, seconds)
        deployment.show_health(False)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="routing-cooldowns")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.cooldowns.close()

    async def _watch(self) -> None:
        keys = [d.key for d in self.deployments]
        while True:
            await self.cooldowns.refresh(keys)
            for deployment in self.deployments:
                deployment.show_health(not self.cooling(deployment))
            await asyncio.sleep(REFRESH)

    def describe(self) -> list[dict[str, Any]]:
        """Every deployment's health and figures (this process's), model by model."""
        rows = []
        now, wall = time.monotonic(), time.time()
        for route in self.routes.values():
            for deployment in route.deployments:
                until = self.cooldowns.until(deployment.key)
                cooling = None
                if until is not None:
                    cooling = datetime.fromtimestamp(wall + until - now, UTC).isoformat()
                rows.append({
                    "model": route.config.name,
                    "routing": route.config.routing,
                    "health": "ok" if until is None else "cooling_down",
                    "cooling_down_until": cooling,
                    **deployment.describe(),
                })  # fmt: skip
        return rows


def _fallbacks(model: ModelConfig, routes: Mapping[str, ModelRoute]) -> list[str]:
    """The models a call of `model` falls back to: its fallbacks in order, each followed by
    its own (depth first), each model once (config validation refused cycles)."""
    order: list[str] = []

    def visit(names: list[str]) -> None:
        for name in names:
            if name != model.name and name not in order:
                order.append(name)
                visit(routes[name].config.fallbacks)

    visit(model.fallbacks)
    return order
