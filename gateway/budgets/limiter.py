"""The limiter: admits a call before it starts, frees its slot when it ends, settles its
reservation to the ledger's bill once the call is costed.

    admit     on the request path: one store step (one Redis EVALSHA, or a few dict operations)
              reserving the call's maximum cost and tokens in every bucket of its workload and
              key, or refusing with a 429 naming the limit and when to retry. With Redis, a call
              its replica's lease covers is admitted without a round trip (`leases`)
    release   the call ended: its concurrency slot is freed with the next admission, or within
              a few milliseconds
    settle    the ledger writer (or the batch worker) costed the call: its reservation becomes
              the billed cost, unused tokens go back to `tpm`

Releases and settlements are queued and sent by one task, off the request path. This process
renews the reservations it holds every third of `reservation_ttl`; a crashed process stops, and
its reservations lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gateway.auth import Identity, hash_key
from gateway.budgets.estimate import estimate, pico
from gateway.budgets.headers import rate_headers, refusal
from gateway.budgets.leases import Leases
from gateway.budgets.memory import MemoryStore
from gateway.budgets.terms import (
    NONE,
    Ask,
    Bill,
    Leasing,
    Rule,
    Store,
    Usage,
    Verdict,
    period_end,
    period_start,
    periods,
)
from gateway.calls import Call
from gateway.config import Limits, ModelConfig, Settings
from gateway.errors import LimitExceeded, LimitsUnavailable
from gateway.ledger.models import as_decimal
from gateway.metrics import BUDGET_REMAINING, RATE_LIMITED

log = logging.getLogger("gateway.budgets")

CHUNK = 200  # ids or bills per store step off the request path
RETRY = 1.0  # seconds before a failed release or settlement is sent again
MAX_QUEUED = 100_000
GAUGE_INTERVAL = 2.0
CLOSE_TIMEOUT = 5.0
SEND_DELAY = 0.005
ABANDON_AFTER = 5


def key_id(key: str) -> str:
    """The id a key goes by in the ledger (`key_id`) and here: its hash's first 16 digits."""
    return hash_key(key)[:16]


class Limiter:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.ttl = settings.reservation_ttl
        self.batch_ttl = settings.batch_reservation_ttl
        self.workloads = {
            w.name: Rule.of(f"w:{w.name}", w.limits) for w in settings.workloads if w.limits.any
        }
        self.keys: dict[str, Rule] = {}  # key id -> its rule (config keys, then stored keys)
        self.key_owners: dict[str, dict[str, Any]] = {}  # key id -> workload (and stored id)
        for workload in settings.workloads:
            for key in workload.keys:
                if key.limits.any:
                    kid = key_id(key.get_secret_value())
                    self.keys[kid] = Rule.of(f"k:{kid}", key.limits)
                    self.key_owners[kid] = {"workload": workload.name}
        self._config_keys = frozenset(self.keys)
        self.store: Store = store or _store(settings)
        # Headroom leased ahead of calls, for a store shared with other replicas (Redis).
        self.leases = Leases(self.store, self.ttl) if isinstance(self.store, Leasing) else None
        # Reservations this process renews: call id -> when the call ended (None: running).
        # One whose bill never comes (a call the ledger could not cost) is let go after
        # ABANDON_AFTER reservation TTLs, and lapses.
        self.held: dict[str, float | None] = {}
        self._releases: list[str] = []
        self._bills: list[Bill] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []  # the sender first
        self._closing = False

    # --- who is limited ------------------------------------------------------------------

    def rules(self, identity: Identity) -> tuple[Rule, ...]:
        """The rules of a caller: its workload's, then its key's."""
        workload = self.workloads.get(identity.workload)
        key = self.keys.get(identity.key_id) if identity.key_id else None
        if key is None:
            return () if workload is None else (workload,)
        return (key,) if workload is None else (workload, key)

    def load_stored_keys(self, stored: Iterable[Mapping[str, Any]]) -> None:
        """The limits of stored keys (`key_id`, `workload`, `id`, `prefix`, `limits`), as the
        key table holds them now; config keys keep theirs."""
        keys = {kid: rule for kid, rule in self.keys.items() if kid in self._config_keys}
        owners = {kid: self.key_owners[kid] for kid in keys}
        for entry in stored:
            kid = entry["key_id"]
            if kid in keys or not entry.get("limits"):
                continue
            try:
                limits = Limits.model_validate(entry["limits"])
            except ValueError as exc:
                log.warning("stored key %s has unreadable limits (%s); ignored", entry["id"], exc)
                continue
            if limits.any:
                keys[kid] = Rule.of(f"k:{kid}", limits)
                owners[kid] = {"workload": entry["workload"], "id": entry["id"],
                               "prefix": entry["prefix"]}
        self.keys, self.key_owners = keys, owners

    # --- the hooks -----------------------------------------------------------------------

    async def admit(self, call: Call, served: Sequence[ModelConfig] = ()) -> None:
        """Reserve a live call's maximum cost in every bucket of its caller, or raise the 429;
        `served`: every model the call may be served by (other deployments, fallbacks), of
        which the dearest estimate is reserved. Sets the call's `x-ratelimit-*` headers."""
        rules = self.rules(call.identity)
        if not rules:
            return
        body = call.request_body or {}
        models = {id(model): model for model in (call.model, *served)}.values()
        cost = max((estimate(model, call.route, body) for model in models),
                   key=lambda each: (each.usd, each.tokens))
        day, month = periods(call.created_at)
        if self.leases is not None:
            leased = self.leases.admit(call.id, rules, cost.usd, cost.tokens, True, day, month)
            if leased is not None:
                call.headers = rate_headers(leased)
                return
        ask = Ask(call.id, rules, cost.usd, cost.tokens, True, self.ttl, day, month,
                  self._take_releases())
        verdict = await self._ask(ask, call.identity)
        self.held[call.id] = None
        call.headers = rate_headers(verdict)

    async def admit_deferred(
        self, identity: Identity, reservation: str, lines: Iterable[tuple[ModelConfig, str,
                                                                          dict[str, Any], str]]
    ) -> None:
        """Reserve deferred calls (model, route, body, lane) at their lane's price, as one
        reservation named `reservation` (a call id, or a batch id whose calls settle their
        shares from it). They take a request, not tokens or a slot."""
        rules = self.rules(identity)
        if not rules:
            return
        cost = sum(deferred_cost(*line) for line in lines)
        day, month = periods(datetime.now(UTC))
        ask = Ask(reservation, rules, cost, 0, False, self.batch_ttl, day, month,
                  self._take_releases())
        await self._ask(ask, identity)

    def release(self, call: Call) -> None:
        """The call ended: free its concurrency slot now (its money waits for the bill)."""
        if self.leases is not None and self.leases.release(call.id):
            return
        if call.id in self.held:
            self.held[call.id] = time.monotonic()
            self._releases.append(call.id)
            self._wake.set()

    def abandon(self, reservation: str) -> None:
        """Admitted calls that will never run (a live call, or deferred calls that could not
        be stored): drop their reservation."""
        if self.leases is not None and self.leases.abandon(reservation):
            return
        self.held.pop(reservation, None)
        day, month = periods(datetime.now(UTC))  # unused: the reservation knows its own
        self._queue(Bill(reservation, (), 0, 0, day, month))

    def settle(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Ledger rows just costed: settle their calls' reservations and count their spend."""
        for row in rows:
            bill = self._bill(row)
            leased = None if self.leases is None else self.leases.settle(
                bill.id, bill.usd, bill.tokens)
            if leased is not None:
                lease, share = leased  # the money moves out of the lease it was admitted on
                if bill.scopes or share:
                    self._queue(replace(bill, parent=lease, share=share))
                continue
            held = row["id"] in self.held
            if held:
                del self.held[row["id"]]
            if bill.scopes or held:
                self._queue(bill)

    def settle_deferred(self, row: Mapping[str, Any], deferred: Any) -> None:
        """A deferred call's ledger row (batch worker): its own reservation, or its share of
        its batch's, and its spend."""
        bill = self._bill(row)
        if not (bill.scopes or self.rules(Identity(row["workload"], key_id=row["key_id"]))):
            return
        if deferred.batch_id:
            model = self.settings.model(deferred.model)
            share = 0 if model is None else deferred_cost(
                model, deferred.route, deferred.body, deferred.lane
            )
            bill = replace(bill, parent=deferred.batch_id, share=share)
        self._queue(bill)

    # --- running -------------------------------------------------------------------------

    async def start(self, spent: Any = None) -> None:
        """Start sending releases, settlements and renewals; `spent(since)` (the ledger's
        spend per workload and key since a moment) seeds the current periods' budgets."""
        if spent is not None:
            await self._seed(spent)
        self._tasks = [
            asyncio.create_task(self._send(), name="limits-settle"),
            asyncio.create_task(self._renew(), name="limits-renew"),
            asyncio.create_task(self._gauges(), name="limits-gauges"),
        ]
        if self.leases is not None:
            self._tasks.append(asyncio.create_task(self.leases.run(), name="limits-leases"))

    async def close(self) -> None:
        """Send what is queued, then stop. The sender is asked to stop rather than cancelled,
        so a settlement is never cut in half; nothing waits longer than CLOSE_TIMEOUT."""
        self._closing = True
        self._wake.set()
        for task in self._tasks[1:]:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=CLOSE_TIMEOUT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._flush(), CLOSE_TIMEOUT)
        if self.leases is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.leases.close(), CLOSE_TIMEOUT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.store.close(), CLOSE_TIMEOUT)

    async def _send(self) -> None:
        while not self._closing:
            await self._wake.wait()
            await asyncio.sleep(SEND_DELAY)  # a busy gateway's next admission takes releases
            self._wake.clear()
            try:
                await self._flush()
            except Exception as exc:
                log.warning("limits: could not settle with the store (%s); retrying", exc)
                await asyncio.sleep(RETRY)
                self._wake.set()

    async def _flush(self) -> None:
        """Send the queued releases and bills. Each chunk leaves its queue before it is sent
        (calls that end meanwhile append to the queues, and an admission takes releases from
        the front); one the store did not take goes back to the front."""
        while self._releases:
            ids = self._releases[:CHUNK]
            del self._releases[: len(ids)]
            try:
                await self.store.release(ids)
            except BaseException:
                self._releases[:0] = ids
                raise
        while self._bills:
            bills = self._bills[:CHUNK]
            del self._bills[: len(bills)]
            try:
                await self.store.settle(bills)
            except BaseException:
                self._bills[:0] = bills
                raise
            if self.leases is not None:
                self.leases.sent([bill.parent for bill in bills if bill.parent and bill.share])

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            stale = time.monotonic() - ABANDON_AFTER * self.ttl
            for call_id, ended in list(self.held.items()):
                if ended is not None and ended < stale:
                    del self.held[call_id]
            ids = list(self.held)
            if self.leases is not None:
                day, month = periods(datetime.now(UTC))
                for call_id, lease, share in self.leases.stale(stale):
                    if share:
                        self._queue(Bill(call_id, (), 0, 0, day, month, lease, share))
                ids += self.leases.ids()
            try:
                for start in range(0, len(ids), CHUNK):
                    await self.store.renew(ids[start : start + CHUNK], self.ttl)
            except Exception as exc:
                log.warning("limits: could not renew %d reservations (%s)", len(ids), exc)

    async def usage(self, rules: list[Rule]) -> tuple[str, str, list[Usage]]:
        """The current day and month, and each rule's figures in them."""
        day, month = periods(datetime.now(UTC))
        return day, month, await self.store.usage(rules, day, month)

    async def _gauges(self) -> None:
        """`gateway_budget_remaining_usd{workload,period}`, every few seconds."""
        while True:
            rules = [rule for rule in self.workloads.values() if rule.budgets]
            try:
                _, _, figures = await self.usage(rules)
            except Exception as exc:
                log.debug("limits: no figures for the gauges (%s)", exc)
                figures = []
            for rule, usage in zip(rules, figures, strict=False):
                for period, budget, spent, reserved in (
                    ("day", rule.usd_per_day, usage.spent_day, usage.reserved_day),
                    ("month", rule.usd_per_month, usage.spent_month, usage.reserved_month),
                ):
                    if budget != NONE:
                        headroom = max(0, budget - spent - reserved)
                        BUDGET_REMAINING.labels(rule.scope[2:], period).set(headroom / 10**12)
            await asyncio.sleep(GAUGE_INTERVAL)

    # --- helpers -------------------------------------------------------------------------

    def _take_releases(self) -> tuple[str, ...]:
        """Slots to free with the next admission (saving a round trip of their own)."""
        if not self._releases:
            return ()
        taken = tuple(self._releases[:CHUNK])
        del self._releases[: len(taken)]
        return taken

    async def _ask(self, ask: Ask, identity: Identity) -> Verdict:
        try:
            verdict = await self.store.admit(ask)
            if (verdict.refused is not None and self.leases is not None
                    and await self.leases.yield_to(ask.rules, ask.day, ask.month)):
                verdict = await self.store.admit(ask)  # with what this replica's lease held
        except Exception as exc:
            self._releases[:0] = ask.releases  # not sent: the sender tries again
            self._wake.set()
            log.error("limits: the store did not answer (%s); refusing limited calls", exc)
            raise LimitsUnavailable(
                "the gateway cannot check this caller's limits right now; retry shortly",
                headers={"retry-after": "1"},
            ) from None
        if verdict.refused is not None:
            raise self._refused(verdict, ask, identity)
        return verdict

    def _refused(self, verdict: Verdict, ask: Ask, identity: Identity) -> LimitExceeded:
        limit = verdict.refused or ""
        RATE_LIMITED.labels(identity.workload, limit).inc()
        rule = next(r for r in ask.rules if r.scope == verdict.scope)
        whose = f"workload {identity.workload!r}" if rule.scope.startswith("w:") else "this key"
        period = ask.month if limit == "usd_per_month" else ask.day
        budget = rule.usd_per_month if limit == "usd_per_month" else rule.usd_per_day
        resets = period_end(period) if limit.startswith("usd") else None
        retry = verdict.retry_after
        if retry is None:
            retry = (period_end(period) - datetime.now(UTC)).total_seconds()
        return refusal(verdict, whose, retry, budget if resets else None, ask.usd, resets)

    def _bill(self, row: Mapping[str, Any]) -> Bill:
        identity = Identity(row["workload"], key_id=row["key_id"])
        scopes = tuple(rule.scope for rule in self.rules(identity) if rule.budgets)
        day, month = periods(row["created_at"])
        tokens = row["prompt_tokens"] + row["billed_completion_tokens"]
        return Bill(row["id"], scopes, pico(as_decimal(row["cost_usd"])), tokens, day, month)

    def _queue(self, bill: Bill) -> None:
        if len(self._bills) >= MAX_QUEUED:
            log.error("limits: %d settlements waiting for the store; dropping the oldest",
                      len(self._bills))
            del self._bills[: CHUNK]
        self._bills.append(bill)
        self._wake.set()

    async def _seed(self, spent: Any) -> None:
        now = datetime.now(UTC)
        day, month = periods(now)
        scopes = {rule.scope for rule in (*self.workloads.values(), *self.keys.values())
                  if rule.budgets}
        if not scopes:
            return
        entries: list[tuple[str, str, int]] = []
        try:
            for period in (day, month):
                rows = await asyncio.wait_for(spent(period_start(period)), CLOSE_TIMEOUT)
                for workload, kid, amount in rows:
                    for scope in (f"w:{workload}", f"k:{kid}" if kid else None):
                        if scope in scopes:
                            entries.append((scope, period, pico(amount)))
            entries = _summed(entries)
            await self.store.seed(entries)
        except Exception as exc:
            log.warning("limits: could not read this period's spend from the ledger (%s); "
                        "budgets count from zero", exc)


def deferred_cost(model: ModelConfig, route: str, body: dict[str, Any], lane: str) -> int:
    """The reservation of a deferred call: the native lane bills at the discounted price."""
    discount = model.batch_discount if lane == "native" else 0.0
    return estimate(model, route, body, discount).usd


def _summed(entries: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    totals: dict[tuple[str, str], int] = {}
    for scope, period, amount in entries:
        totals[(scope, period)] = totals.get((scope, period), 0) + amount
    return [(scope, period, amount) for (scope, period), amount in totals.items()]


def _store(settings: Settings) -> Store:
    if settings.redis_url:
        from gateway.budgets.redis_store import PREFIX, RedisStore
        from gateway.ledger.service import database_tag

        prefix = PREFIX.replace("}", f":{database_tag(settings.database_url)}}}")
        return RedisStore.from_url(settings.redis_url, prefix)
    return MemoryStore()
