"""The gateway's runtime: settings, providers, the upstream pool, auth and the ledger."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from gateway import heap
from gateway.auth import Authenticator
from gateway.batch.lane import BatchLane
from gateway.budgets.limiter import Limiter
from gateway.calls import Call
from gateway.config import ModelConfig, Settings
from gateway.ledger import LedgerSink, NullLedger
from gateway.loop_lag import LoopLagProbe
from gateway.metrics import observe_call
from gateway.providers import build_provider
from gateway.providers.base import Provider
from gateway.proxy import Proxy
from gateway.responses.background import BackgroundRunner
from gateway.responses.service import ResponsesService
from gateway.routing.router import Router
from gateway.upstream import UpstreamPool

log = logging.getLogger("gateway")


class GatewayState:
    def __init__(self, settings: Settings, ledger: LedgerSink | None = None) -> None:
        self.settings = settings
        self.providers: dict[str, Provider] = {
            p.name: build_provider(p) for p in settings.providers
        }
        self.models: dict[str, ModelConfig] = {m.name: m for m in settings.models}
        self.router = Router(settings, self.providers)
        self.auth = Authenticator(settings)
        self.pool = UpstreamPool()
        self.ledger: LedgerSink = ledger or NullLedger()
        self.limits = Limiter(settings)
        writer = getattr(self.ledger, "writer", None)  # the Ledger's; settles what it costs
        if writer is not None:
            writer.costed = self.limits.settle
        self.ready = False
        self.loop_lag = LoopLagProbe()
        self.shutting_down = False
        journal = getattr(self.ledger, "journal", None)  # the Ledger's; none without one
        self.proxy = Proxy(self.pool, settings, on_finish=self.finish_call, journal=journal)
        database = getattr(self.ledger, "database", None)
        self.batch = BatchLane(self, database)
        self.responses = ResponsesService(self, database)
        self.background = BackgroundRunner(self.responses, settings.batch_lease)

    def resolve(self, model_name: str) -> tuple[ModelConfig, Provider]:
        """A model and its first deployment's provider (live calls are routed by `router`;
        the batch lane and token counting use this one)."""
        route = self.router.route(model_name)
        return route.config, route.primary.provider

    def finish_call(self, call: Call) -> None:
        call.finished_at = datetime.now(UTC)
        observe_call(call)
        self.limits.release(call)
        meter = call.meter
        if call.status == "completed" and meter.prompt_tokens is not None and meter.has_usage:
            # The provider counted everything: the body is not needed to cost the call, and
            # the queued call holds far fewer objects for the garbage collector to walk.
            call.request_body = None
        self.ledger.record(call)

    async def start(self) -> None:
        await self.ledger.start()
        await self.router.start()
        queries = getattr(self.ledger, "queries", None)
        await self.limits.start(None if queries is None else queries.spent)
        await self.batch.start()
        self.loop_lag.start()
        heap.settle()
        self.ready = True

    def begin_shutdown(self) -> None:
        """SIGTERM arrived: answer not-ready at once while open calls finish (signal-safe)."""
        self.shutting_down = True

    async def readiness(self) -> dict[str, bool]:
        return {
            "started": self.ready,
            "providers": bool(self.providers),
            "accepting": not self.shutting_down,
        }

    async def close(self) -> None:
        self.ready = False
        self.loop_lag.stop()
        await self.background.close()
        await self.batch.close()
        await self.router.close()
        await self.pool.close()
        await self.ledger.close()
        await self.limits.close()  # after the ledger: its last rows are settled too
