"""The plain data a limiter hands its store and gets back, and the budget periods.

A *scope* is what limits apply to: `w:<workload>` or `k:<key id>`. Money is integer pico-USD;
a budget period is a UTC day (`d:2025-01-31`) or calendar month (`m:2025-01`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol, runtime_checkable

from gateway.budgets.estimate import pico
from gateway.config import Limits

WINDOW = 60.0  # seconds: rpm and tpm refill their whole limit over one minute
NONE = -1  # a budget that is not set


@dataclass(frozen=True, slots=True)
class Rule:
    """The limits of one scope, as the store reads them (0 or NONE: not set)."""

    scope: str
    rpm: int = 0
    tpm: int = 0
    concurrency: int = 0
    usd_per_day: int = NONE
    usd_per_month: int = NONE

    @classmethod
    def of(cls, scope: str, limits: Limits) -> Rule:
        day, month = limits.usd_per_day, limits.usd_per_month
        return cls(
            scope,
            limits.rpm or 0,
            limits.tpm or 0,
            limits.concurrency or 0,
            NONE if day is None else pico(day),
            NONE if month is None else pico(month),
        )

    @property
    def budgets(self) -> bool:
        return self.usd_per_day != NONE or self.usd_per_month != NONE


@dataclass(frozen=True, slots=True)
class Ask:
    """Admit one call (or one batch of deferred calls): all of its rules' buckets, or none."""

    id: str
    rules: tuple[Rule, ...]
    usd: int  # reserved until settled
    tokens: int  # taken from tpm (0: the call does not count against tpm)
    slot: bool  # takes a concurrency slot until released
    ttl: float  # seconds the reservation lives unless renewed
    day: str
    month: str
    releases: tuple[str, ...] = ()  # calls that ended meanwhile: their slots go first


@dataclass(frozen=True, slots=True)
class Window:
    """One rate limit as the `x-ratelimit-*` headers show it."""

    limit: int
    remaining: int
    reset: float  # seconds until it is full again


@dataclass(frozen=True, slots=True)
class Verdict:
    refused: str | None = None  # rpm | tpm | concurrency | usd_per_day | usd_per_month
    scope: str | None = None
    retry_after: float | None = None  # seconds; None: when the budget's period ends
    requests: Window | None = None  # the scope with the fewest requests left
    tokens: Window | None = None


@dataclass(frozen=True, slots=True)
class Bill:
    """A finished call's cost, to settle its reservation with and add to its scopes' spend."""

    id: str
    scopes: tuple[str, ...]  # the scopes whose budgets count it
    usd: int
    tokens: int  # prompt + billed output (unused reserved tokens go back to tpm)
    day: str
    month: str
    parent: str | None = None  # the batch reservation the call's `share` is released from
    share: int = 0


@dataclass(frozen=True, slots=True)
class Share:
    """Headroom a replica leases ahead of its calls, or gives back (`leases`)."""

    id: str  # the lease's reservation
    rules: tuple[Rule, ...]
    requests: int
    tokens: int
    slots: int
    usd: int  # wanted (or given back)
    least: int  # the least money worth taking
    ttl: float
    day: str
    month: str


@dataclass(frozen=True, slots=True)
class Grant:
    """What a lease was given, and the rate windows after it."""

    usd: int
    requests: Window | None
    tokens: Window | None


@dataclass(frozen=True, slots=True)
class Usage:
    """A scope's figures now: spend and reservations of the current periods, calls in flight,
    and its rate limits."""

    scope: str
    spent_day: int
    reserved_day: int
    spent_month: int
    reserved_month: int
    in_flight: int
    requests: Window | None
    tokens: Window | None


class Store(Protocol):
    """Where the buckets live: Redis (shared by every replica) or this process."""

    async def admit(self, ask: Ask) -> Verdict: ...

    async def release(self, ids: list[str]) -> None:
        """Free the concurrency slots of calls that ended (their money waits for `settle`)."""

    async def settle(self, bills: list[Bill]) -> None: ...

    async def renew(self, ids: list[str], ttl: float) -> None: ...

    async def usage(self, rules: list[Rule], day: str, month: str) -> list[Usage]: ...

    async def seed(self, spent: list[tuple[str, str, int]]) -> None:
        """(scope, period, pico-USD) spent before this store knew it, where it knows none."""

    async def close(self) -> None: ...


@runtime_checkable
class Leasing(Protocol):
    """A store shared by replicas, from which each leases headroom (`leases`)."""

    async def take(self, share: Share) -> Grant | None: ...

    async def give(self, share: Share, close: bool) -> None: ...


def periods(moment: datetime) -> tuple[str, str]:
    """The day and month a moment falls in (UTC)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return _periods(moment.year, moment.month, moment.day)


@lru_cache(maxsize=64)
def _periods(year: int, month: int, day: int) -> tuple[str, str]:
    return f"d:{year:04d}-{month:02d}-{day:02d}", f"m:{year:04d}-{month:02d}"


def period_end(period: str) -> datetime:
    """When a period ends (the next one starts)."""
    kind, _, name = period.partition(":")
    if kind == "d":
        return datetime.strptime(name, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    year, month = (int(part) for part in name.split("-"))
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def period_start(period: str) -> datetime:
    kind, _, name = period.partition(":")
    if kind == "d":
        return datetime.strptime(name, "%Y-%m-%d").replace(tzinfo=UTC)
    return datetime.strptime(name, "%Y-%m").replace(tzinfo=UTC)
