"""Leases: a replica takes headroom from the shared store ahead of its calls, so admitting a
limited call is a few local operations instead of a round trip to Redis.

A lease belongs to one set of rules (a caller's workload and key) in one day and month. It
holds requests, tokens, slots and money taken from every bucket of those rules in Redis, the
way an admission takes them, so the shared figures never promise more than the limits allow:
what a replica's lease holds is spent or reserved for every other replica.

    admit     the lease covers the call: admitted here, nothing is sent
    grow      the lease runs low, or a call did not fit: more is taken in the background (the
              call that did not fit is admitted by the store's script, as without leases)
    settle    a call's bill moves its cost from the lease's money to the spend (the limiter's
              sender sends it with the other bills); unused tokens return to the lease
    give back a lease idle for IDLE seconds returns what its calls do not hold, and ends once
              none of its calls is left to settle; a replica that dies stops renewing its
              leases, which lapse after `reservation_ttl` like its calls' reservations

A lease only holds a small share of each limit: at most 1/SHARE of a rate limit or of the
concurrency (a rule set whose limits are too small for that is not leased), and at most
1/SHARE of a budget's headroom (the script's check). So leases never lock the other replicas
out, and near a limit calls are admitted one by one by the script, each refusal exact. What
the budgets endpoint shows as reserved and in flight includes what leases hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field

from gateway.budgets.terms import Grant, Leasing, Rule, Share, Verdict, Window

log = logging.getLogger("gateway.budgets")

SHARE = 16  # a lease holds at most 1/SHARE of each limit (the script: of a budget's headroom)
CALLS = 32  # a lease aims to hold this many calls' requests, tokens and money
LOW = 8  # it grows when it holds less than this many calls' worth
SPARE_SLOTS = 4  # free slots a lease aims to hold beyond its calls in flight
IDLE = 1.0  # seconds without a call before a lease gives back what it holds
PAUSE = 1.0  # seconds before a lease that was refused asks again


@dataclass(slots=True, eq=False)
class Lease:
    id: str
    rules: tuple[Rule, ...]
    day: str
    month: str
    rpm: int  # the smallest limit of its rules (0: none limits it)
    tpm: int
    concurrency: int
    budgets: bool
    requests: int = 0  # free: not yet handed to a call
    tokens: int = 0
    slots: int = 0
    granted: int = 0  # money the lease holds in the store, of which
    held: int = 0  # its calls hold this much until they are settled
    busy: int = 0  # slots its calls hold
    open: int = 0  # its calls not yet settled
    unsent: int = 0  # its calls' bills queued and not yet sent
    used: float = field(default_factory=time.monotonic)
    growing: bool = False
    closing: bool = False
    paused_until: float = 0.0
    windows: Grant | None = None

    def fits(self, usd: int, tokens: int, slot: bool) -> bool:
        return (
            (not self.rpm or self.requests >= 1)
            and (not self.tpm or self.tokens >= tokens)
            and (not (self.concurrency and slot) or self.slots >= 1)
            and (not self.budgets or self.granted - self.held >= usd)
        )

    def low(self, usd: int, tokens: int) -> bool:
        return (
            (self.rpm > 0 and self.requests < min(LOW, self.rpm // SHARE))
            or (self.tpm > 0 and self.tokens < min(LOW * tokens, self.tpm // SHARE))
            or (self.concurrency > 0 and self.slots < min(SPARE_SLOTS // 2, self.slot_cap))
            or (self.budgets and self.granted - self.held < LOW * usd)
        )

    @property
    def slot_cap(self) -> int:
        return self.concurrency // SHARE

    def verdict(self) -> Verdict:
        """The rate windows for the call's headers: the store's at the last grant, with what
        this lease still holds counted as remaining."""
        grant = self.windows
        if grant is None:
            return Verdict()
        return Verdict(requests=_plus(grant.requests, self.requests),
                       tokens=_plus(grant.tokens, self.tokens))


@dataclass(slots=True)
class Leased:
    """A call admitted under a lease."""

    lease: Lease
    usd: int
    tokens: int
    slot: bool
    ended: float | None = None


def _plus(window: Window | None, more: int) -> Window | None:
    if window is None:
        return None
    return Window(window.limit, min(window.limit, window.remaining + more), window.reset)


def _smallest(values: list[int]) -> int:
    values = [value for value in values if value]
    return min(values) if values else 0


class Leases:
    def __init__(self, store: Leasing, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self.tag = uuid.uuid4().hex[:12]  # this replica's leases
        self.count = 0
        self.leases: dict[tuple[tuple[Rule, ...], str, str], Lease | None] = {}
        self.by_id: dict[str, Lease] = {}
        self.calls: dict[str, Leased] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the request path ----------------------------------------------------------------

    def admit(self, call_id: str, rules: tuple[Rule, ...], usd: int, tokens: int, slot: bool,
              day: str, month: str) -> Verdict | None:
        """Admit a call on this replica's lease for its rules: its verdict, or None when the
        lease does not cover it (the caller asks the store; the lease grows meanwhile)."""
        key = (rules, day, month)
        if key not in self.leases:
            self.leases[key] = self._new(rules, day, month)
        lease = self.leases[key]
        if lease is None or lease.closing:
            return None  # limits too small to lease, or the lease is ending
        lease.used = now = time.monotonic()
        if not lease.fits(usd, tokens, slot):
            self._grow(lease, usd, tokens, now)
            return None
        if lease.rpm:
            lease.requests -= 1
        if lease.tpm:
            lease.tokens -= tokens
        slot = slot and lease.concurrency > 0
        if slot:
            lease.slots -= 1
            lease.busy += 1
        if lease.budgets:
            lease.held += usd
        lease.open += 1
        self.calls[call_id] = Leased(lease, usd if lease.budgets else 0, tokens, slot)
        if lease.low(usd, tokens):
            self._grow(lease, usd, tokens, now)
        return lease.verdict()

    def release(self, call_id: str) -> bool:
        """The call ended: its slot returns to its lease. False: not a leased call."""
        leased = self.calls.get(call_id)
        if leased is None:
            return False
        if leased.ended is None:
            leased.ended = time.monotonic()
            self._free_slot(leased)
        return True

    # --- settling ------------------------------------------------------------------------

    def settle(self, call_id: str, usd: int, tokens: int) -> tuple[str, int] | None:
        """A leased call was costed at `usd` for `tokens`: the lease to move that money out of
        and how much (the bill's share), or None for a call not admitted on a lease."""
        leased = self._end(call_id)
        if leased is None:
            return None
        lease = leased.lease
        if lease.tpm and tokens < leased.tokens:
            lease.tokens += leased.tokens - tokens
        share = min(usd, lease.granted) if lease.budgets else 0
        lease.granted -= share
        if share:
            lease.unsent += 1
        return lease.id, share

    def abandon(self, call_id: str) -> bool:
        """An admitted call that will never run: what it took returns to its lease."""
        leased = self._end(call_id)
        if leased is None:
            return False
        if leased.lease.tpm:
            leased.lease.tokens += leased.tokens
        return True

    def stale(self, before: float) -> list[tuple[str, str, int]]:
        """Calls ended before `before` whose bill never came: their money leaves the lease
        uncounted, as a lapsed reservation's does. (call id, lease id, share) for each."""
        out = []
        for call_id, leased in list(self.calls.items()):
            if leased.ended is not None and leased.ended < before:
                lease_id, share = self.settle(call_id, leased.usd, leased.tokens) or ("", 0)
                out.append((call_id, lease_id, share))
        return out

    def sent(self, parents: list[str]) -> None:
        """Bills with these leases as parent reached the store."""
        for lease_id in parents:
            lease = self.by_id.get(lease_id)
            if lease is not None:
                lease.unsent -= 1

    def ids(self) -> list[str]:
        """The leases to renew."""
        return list(self.by_id)

    # --- growing and giving back -----------------------------------------------------------

    def _new(self, rules: tuple[Rule, ...], day: str, month: str) -> Lease | None:
        rpm = _smallest([rule.rpm for rule in rules])
        tpm = _smallest([rule.tpm for rule in rules])
        concurrency = _smallest([rule.concurrency for rule in rules])
        if (rpm and rpm < SHARE) or (tpm and tpm < SHARE) or (concurrency and concurrency < SHARE):
            return None
        self.count += 1
        lease = Lease(f"lease:{self.tag}:{self.count}", rules, day, month, rpm, tpm,
                      concurrency, any(rule.budgets for rule in rules))
        self.by_id[lease.id] = lease
        return lease

    def _grow(self, lease: Lease, usd: int, tokens: int, now: float) -> None:
        if lease.growing or lease.closing or now < lease.paused_until:
            return
        requests = max(0, min(CALLS, lease.rpm // SHARE) - lease.requests) if lease.rpm else 0
        more_tokens = 0
        if lease.tpm:
            more_tokens = max(0, min(CALLS * tokens, lease.tpm // SHARE) - lease.tokens)
        slots = 0
        if lease.concurrency:
            slots = max(0, min(SPARE_SLOTS - lease.slots,
                               lease.slot_cap - lease.slots - lease.busy))
        want = max(0, CALLS * usd - (lease.granted - lease.held)) if lease.budgets else 0
        if not (requests or more_tokens or slots or want):
            return
        share = Share(lease.id, lease.rules, requests, more_tokens, slots, want,
                      min(usd, want), self.ttl, lease.day, lease.month)
        lease.growing = True
        task = asyncio.create_task(self._take(lease, share), name="limits-lease")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take(self, lease: Lease, share: Share) -> None:
        try:
            grant = await self.store.take(share)
        except Exception as exc:
            log.debug("limits: no lease for %s (%s)", lease.id, exc)
            grant = None
        finally:
            lease.growing = False
        if grant is None:
            lease.paused_until = time.monotonic() + PAUSE
            return
        lease.requests += share.requests
        lease.tokens += share.tokens
        lease.slots += share.slots
        lease.granted += grant.usd
        lease.windows = grant

    async def give_back(self, lease: Lease, close: bool) -> bool:
        """Return what the lease holds beyond its calls; `close` ends it if none is left to
        settle. True if anything was given back."""
        if lease.growing:
            return False
        free = lease.granted - lease.held
        close = close and lease.open == 0 and lease.unsent == 0 and lease.busy == 0
        share = Share(lease.id, lease.rules, lease.requests, lease.tokens, lease.slots,
                      free, 0, self.ttl, lease.day, lease.month)
        if not (close or share.requests or share.tokens or share.slots or free):
            return False
        lease.requests = lease.tokens = lease.slots = 0
        lease.granted -= free
        lease.closing = close  # nothing is taken for it meanwhile: it would outlive its end
        try:
            await self.store.give(share, close)
        except Exception as exc:
            lease.closing = False
            lease.requests += share.requests
            lease.tokens += share.tokens
            lease.slots += share.slots
            lease.granted += free
            log.warning("limits: could not give back lease %s (%s)", lease.id, exc)
            return False
        if close:
            self.by_id.pop(lease.id, None)
            key = (lease.rules, lease.day, lease.month)
            if self.leases.get(key) is lease:
                del self.leases[key]
        return True

    async def yield_to(self, rules: tuple[Rule, ...], day: str, month: str) -> bool:
        """A call the store refused while this replica's lease for its rules holds headroom:
        give it back (and ask for no more for a moment), so the store can admit the call."""
        lease = self.leases.get((rules, day, month))
        if lease is None:
            return False
        lease.paused_until = time.monotonic() + PAUSE
        return await self.give_back(lease, close=False)

    async def run(self) -> None:
        """Give back what idle leases hold, and end them."""
        while True:
            await asyncio.sleep(IDLE / 2)
            await self.trim()

    async def trim(self, everything: bool = False) -> None:
        idle = time.monotonic() - IDLE
        for key in [key for key, lease in self.leases.items() if lease is None]:
            del self.leases[key]  # rules too small to lease: checked again at their next call
        for lease in list(self.by_id.values()):
            if everything or lease.used < idle:
                with contextlib.suppress(Exception):
                    await self.give_back(lease, close=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1)
        await self.trim(everything=True)

    def _end(self, call_id: str) -> Leased | None:
        """A leased call is done with: its slot and money leave the lease's hold."""
        leased = self.calls.pop(call_id, None)
        if leased is not None:
            self._free_slot(leased)
            leased.lease.held -= leased.usd
            leased.lease.open -= 1
        return leased

    def _free_slot(self, leased: Leased) -> None:
        if leased.slot:
            leased.slot = False
            leased.lease.busy -= 1
            leased.lease.slots += 1
