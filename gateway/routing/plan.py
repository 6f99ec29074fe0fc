"""One call's way through its model's deployments, then its fallback models.

Order: the model's deployments that are not cooling down, best first by its strategy, each
once, or for `retries + 1` attempts when `retries` is set (going round again after a short
backoff when there are more attempts than deployments); then each fallback model the same
way. Only if every deployment of the model and its fallbacks is cooling down does the call
try the cooling ones (a cooldown is a guess from past failures: an answer from one that
recovered beats a certain error).

An attempt is retried only before the first byte reaches the client, and only after a
failure another deployment may not have (`deployment.RETRYABLE`). A 429's retry-after cools
its deployment down for that long; a short one (<= `SHORT_RETRY_AFTER`) is waited out before
that deployment is tried again in the same call, a longer one moves on. Every wait is a plain
`asyncio.sleep`, so a client that leaves cancels it like any other await.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.auth import Identity
from gateway.calls import Call
from gateway.config import ModelConfig
from gateway.errors import (
    BadRequest,
    FirstByteTimeout,
    GatewayError,
    RateLimited,
    UpstreamError,
    UpstreamPoolExhausted,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.providers.base import Provider, UpstreamRequest
from gateway.routing.deployment import RETRYABLE, Deployment
from gateway.streaming.meter import Meter

if TYPE_CHECKING:
    from gateway.routing.router import ModelRoute, Router

log = logging.getLogger("gateway.routing")

T = TypeVar("T")
# How a call's upstream request and reply are made for one deployment (`gateway.dispatch`).
Build = Callable[[Deployment], tuple[UpstreamRequest, Any]]

SHORT_RETRY_AFTER = 5.0
BACKOFF = 0.1  # before going round a model's deployments again; doubles each round ...
BACKOFF_MAX = 2.0  # ... up to this


@dataclass(slots=True)
class Attempt:
    """One try of a call on one deployment: its request and how its answer is relayed."""

    route: ModelRoute
    deployment: Deployment
    request: UpstreamRequest
    reply: Any
    wait: float = 0.0  # seconds to wait before sending it
    sent_at: float | None = None
    running: bool = False

    @property
    def provider(self) -> Provider:
        return self.deployment.provider

    async def first_byte(self, work: Awaitable[T]) -> T:
        """`work` (send, then read the answer's head), bounded by `first_byte_timeout`."""
        limit = self.route.config.first_byte_timeout
        if limit is None:
            return await work
        try:
            async with asyncio.timeout(limit) as timer:
                return await work
        except TimeoutError:
            if not timer.expired():
                raise
            raise FirstByteTimeout(
                f"deployment {self.deployment.name!r} sent no first byte within {limit:g}s "
                "(first_byte_timeout)"
            ) from None


class Plan:
    """The deployments one call may try, and the attempt under way (`attempt`)."""

    __slots__ = ("router", "route", "build", "attempt", "holds_headers", "_sequence",
                 "_refused", "_skipped", "_waits")

    def __init__(self, router: Router, route: ModelRoute, build: Build) -> None:
        self.router = router
        self.route = route
        self.build = build
        self._refused: BadRequest | None = None
        self._skipped: set[Deployment] = set()  # moved on from (a long retry-after)
        self._waits: dict[Deployment, float] = {}  # a short retry-after, before trying again
        self._sequence = _walk(router, route)  # a generator, so it must not hold the plan
        first = self._next()
        if first is None:
            assert self._refused is not None
            raise self._refused
        self.attempt = first
        config = route.config
        # A stream's headers wait for the upstream's first bytes while the call may still
        # move to another deployment (or must give up at first_byte_timeout).
        self.holds_headers = (
            config.attempts > 1 or bool(route.chain) or config.first_byte_timeout is not None
        )

    @property
    def model(self) -> ModelConfig:
        return self.attempt.deployment.model

    def live_call(
        self,
        call_id: str,
        identity: Identity,
        route: str,
        body: dict[str, Any],
        *,
        stream: bool,
        meter: Meter | None = None,
        body_bytes: int | None = None,
    ) -> Call:
        """The call this plan starts with (its first deployment's model and provider);
        `body_bytes`: the size of the body as the client sent it, when it is that body."""
        return Call(
            id=call_id,
            identity=identity,
            route=route,
            model=self.model,
            provider=self.provider.name,
            mode="stream" if stream else "sync",
            meter=meter or Meter(),
            request_body=body,
            body_bytes=body_bytes,
        )

    @property
    def served(self) -> list[ModelConfig]:
        """Every model the call may end up served by (deployments and fallbacks)."""
        return self.route.served

    @property
    def provider(self) -> Provider:
        return self.attempt.deployment.provider

    @property
    def reply(self) -> Any:
        return self.attempt.reply

    async def first_answer(self, call: Call, open_: Callable[[Attempt], Awaitable[T]]) -> T:
        """`open_` on each attempt in turn until one gives an answer before any byte reached
        the client; raises the last failure when none does (or one must not be retried)."""
        while True:
            attempt = self.attempt
            if attempt.wait:
                await asyncio.sleep(attempt.wait)
            deployment = attempt.deployment
            call.model = deployment.model
            call.provider = deployment.provider.name
            deployment.started()
            attempt.running = True
            attempt.sent_at = time.perf_counter()
            try:
                return await open_(attempt)
            except GatewayError as err:
                outcome = classify(err)
                self._stop(attempt)
                wait = retry_after(err) if outcome == "rate_limited" else None
                self.router.failed(attempt.route, deployment, outcome, err.status, err.message,
                                   wait)  # fmt: skip
                if wait is not None:
                    if wait <= SHORT_RETRY_AFTER:
                        self._waits[deployment] = wait
                    else:
                        self._skipped.add(deployment)
                if outcome not in RETRYABLE or call.meter.delivered_at_gone is not None:
                    raise
                following = self._next()
                if following is None:
                    raise
                log.debug("call %s: %s failed (%s: %s); trying %s", call.id, deployment.key,
                          outcome, err.message, following.deployment.key)  # fmt: skip
                self.attempt = following

    def end(self, call: Call) -> None:
        """The call is over: the attempt that answered (or broke off) is accounted for."""
        attempt = self.attempt
        if not attempt.running:
            return
        self._stop(attempt)
        deployment = attempt.deployment
        if call.status == "completed":
            deployment.answered(*_figures(call.meter, attempt.sent_at, call.mode == "stream"))
        elif call.status == "cancelled":
            deployment.failed("cancelled", call.http_status, call.cancel_reason or "")
        else:
            outcome = "broken_stream" if call.streaming_started else "server_error"
            self.router.failed(attempt.route, deployment, outcome, call.http_status,
                               call.error or "")  # fmt: skip

    def _stop(self, attempt: Attempt) -> None:
        if attempt.running:
            attempt.running = False
            attempt.deployment.stopped()

    def _next(self) -> Attempt | None:
        """The next attempt whose request the deployment's API can carry."""
        for route, deployment, wait in self._sequence:
            if deployment in self._skipped:
                continue
            try:
                request, reply = self.build(deployment)
            except BadRequest as err:  # e.g. a feature another provider kind lacks
                self._refused = self._refused or err
                continue
            wait = max(wait, self._waits.pop(deployment, 0.0)) if wait else 0.0
            return Attempt(route, deployment, request, reply, wait)
        return None

def _walk(router: Router, route: ModelRoute) -> Iterator[tuple[ModelRoute, Deployment, float]]:
    """(model, deployment, wait before it) in the order a call tries them (module doc).

    A plain function: a method's suspended generator would hold the plan, and the plan the
    generator, a cycle only the collector could free (and only a full collection, once the
    plan had lived through a young one)."""
    chain = [route, *route.chain]
    cooling = router.cooling
    for healthy in (True, False):
        tried = False
        for model in chain:
            members = [d for d in model.deployments if cooling(d) != healthy]
            if not members:
                continue
            tried = True
            ordered = model.order(members, router.rng)
            retries = model.config.retries  # unset: each deployment not cooling, once
            for number in range(len(ordered) if retries is None else retries + 1):
                rounds = number // len(ordered)
                wait = min(BACKOFF * 2 ** (rounds - 1), BACKOFF_MAX) if rounds else 0.0
                yield model, ordered[number % len(ordered)], wait
        if tried:
            return


def classify(err: GatewayError) -> str:
    """The outcome of an attempt that failed with `err` (`deployment.OUTCOMES`)."""
    if isinstance(err, FirstByteTimeout):
        return "first_byte_timeout"
    if isinstance(err, RateLimited) or err.status == 429:
        return "rate_limited"
    if isinstance(err, UpstreamTimeout):
        return "timeout"
    if isinstance(err, UpstreamUnavailable | UpstreamPoolExhausted):
        return "unavailable"
    if isinstance(err, UpstreamError) and err.status >= 500:
        return "server_error"
    return "client_error"


def retry_after(err: GatewayError) -> float | None:
    """Seconds of a `retry-after` header (a number or an HTTP date), if the error has one."""
    value = err.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _figures(
    meter: Meter, sent_at: float | None, stream: bool
) -> tuple[float | None, float | None]:
    """(time to first token, output tokens/s) of an attempt that answered, if measured: a
    stream's only (a whole answer's wait is its length, not the deployment's latency)."""
    if not stream or sent_at is None or meter.first_token_at is None:
        return None, None
    ttft = meter.first_token_at - sent_at
    tps = None
    if meter.last_token_at is not None and meter.delivered_chunks > 1:
        elapsed = meter.last_token_at - meter.first_token_at
        if elapsed > 0:
            tps = ((meter.completion_tokens or meter.delivered_chunks) - 1) / elapsed
    return ttft, tps
