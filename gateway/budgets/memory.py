"""The buckets in this process (no Redis): the Redis scripts' semantics, step for step, in
Python (`scripts` describes them). Limits then hold per gateway process."""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

from gateway.budgets.terms import WINDOW, Ask, Bill, Rule, Usage, Verdict, Window


@dataclass(slots=True)
class _Bucket:
    left: float
    at: float
    cap: int


@dataclass(slots=True)
class _Reservation:
    usd: int
    tokens: int
    day: str
    month: str
    expires: float
    slots: list[str] = field(default_factory=list)
    money: list[str] = field(default_factory=list)
    tpm: list[str] = field(default_factory=list)


def _level(bucket: _Bucket | None, cap: int, now: float) -> float:
    if bucket is None:
        return float(cap)
    return min(float(cap), bucket.left + (now - bucket.at) * cap / WINDOW)


def _window(win: Window | None, cap: int, left: float) -> Window:
    remaining = int(left) if left > 0 else 0
    if win is None or remaining < win.remaining:
        return Window(cap, remaining, math.ceil((cap - left) * 1000 / cap * WINDOW) / 1000)
    return win


class MemoryStore:
    def __init__(self, clock: object = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[tuple[str, str], _Bucket] = {}  # (scope, "r" | "t")
        self.in_flight: dict[str, int] = {}
        self.money: dict[tuple[str, str], list[int]] = {}  # (scope, period): [spent, reserved]
        self.reservations: dict[str, _Reservation] = {}
        self._expiry: list[tuple[float, str]] = []  # a heap; renewed entries are re-pushed

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator,no-any-return]

    # --- the steps ------------------------------------------------------------------------

    async def admit(self, ask: Ask) -> Verdict:
        now = self._now()
        self._purge(now)
        await self.release(list(ask.releases))
        worst: tuple[int, int, str, str] | None = None
        levels: list[tuple[Rule, float | None, float | None, int]] = []
        for rule in ask.rules:
            found: list[tuple[int, int, str]] = []
            r_left = t_left = None
            need = min(ask.tokens, rule.tpm)
            if rule.rpm:
                r_left = _level(self.buckets.get((rule.scope, "r")), rule.rpm, now)
                if r_left < 1:
                    found.append((0, math.ceil((1 - r_left) * 1000 * WINDOW / rule.rpm), "rpm"))
            if rule.tpm and ask.tokens:
                t_left = _level(self.buckets.get((rule.scope, "t")), rule.tpm, now)
                if t_left < need:
                    wait = math.ceil((need - t_left) * 1000 * WINDOW / rule.tpm)
                    found.append((0, wait, "tpm"))
            if rule.concurrency and ask.slot:
                if self.in_flight.get(rule.scope, 0) >= rule.concurrency:
                    found.append((0, 1000, "concurrency"))
            for period, budget, name, rank in (
                (ask.day, rule.usd_per_day, "usd_per_day", 1),
                (ask.month, rule.usd_per_month, "usd_per_month", 2),
            ):
                if budget >= 0:
                    spent, reserved = self.money.get((rule.scope, period), (0, 0))
                    if spent + reserved + ask.usd > budget:
                        found.append((rank, -1, name) if spent + ask.usd > budget
                                     else (0, 1000, name))
            for rank, retry, name in found:
                if worst is None or (rank, retry) > worst[:2]:
                    worst = (rank, retry, name, rule.scope)
            levels.append((rule, r_left, t_left, need))
        requests = tokens = None
        if worst is not None:
            for rule, r_left, t_left, _ in levels:
                if r_left is not None:
                    requests = _window(requests, rule.rpm, r_left)
                if t_left is not None:
                    tokens = _window(tokens, rule.tpm, t_left)
            retry_after = None if worst[1] < 0 else worst[1] / 1000
            return Verdict(worst[2], worst[3], retry_after, requests, tokens)
        held = _Reservation(ask.usd, ask.tokens, ask.day, ask.month, now + ask.ttl)
        for rule, r_left, t_left, need in levels:
            if r_left is not None:
                self.buckets[(rule.scope, "r")] = _Bucket(r_left - 1, now, rule.rpm)
                requests = _window(requests, rule.rpm, r_left - 1)
            if t_left is not None:
                self.buckets[(rule.scope, "t")] = _Bucket(t_left - need, now, rule.tpm)
                tokens = _window(tokens, rule.tpm, t_left - need)
                held.tpm.append(rule.scope)
            if rule.concurrency and ask.slot:
                self.in_flight[rule.scope] = self.in_flight.get(rule.scope, 0) + 1
                held.slots.append(rule.scope)
            if rule.budgets and ask.usd > 0:
                self._add(rule.scope, ask.day, 1, ask.usd)
                self._add(rule.scope, ask.month, 1, ask.usd)
                held.money.append(rule.scope)
        self.reservations[ask.id] = held
        heapq.heappush(self._expiry, (held.expires, ask.id))
        return Verdict(requests=requests, tokens=tokens)

    async def release(self, ids: list[str]) -> None:
        for call_id in ids:
            held = self.reservations.get(call_id)
            if held is not None:
                for scope in held.slots:
                    self._free_slot(scope)
                held.slots = []

    async def settle(self, bills: list[Bill]) -> None:
        now = self._now()
        self._purge(now)
        for bill in bills:
            held = self._drop(bill.id)
            if held is not None:
                unused = held.tokens - bill.tokens
                for scope in held.tpm if unused > 0 else ():
                    bucket = self.buckets.get((scope, "t"))
                    if bucket is not None:
                        left = _level(bucket, bucket.cap, now) + unused
                        self.buckets[(scope, "t")] = _Bucket(min(bucket.cap, left), now, bucket.cap)
            elif bill.parent and bill.share > 0:
                batch = self.reservations.get(bill.parent)
                if batch is not None:
                    amount = min(bill.share, batch.usd)
                    batch.usd -= amount
                    for scope in batch.money:
                        self._add(scope, batch.day, 1, -amount)
                        self._add(scope, batch.month, 1, -amount)
                    if batch.usd <= 0:
                        self._drop(bill.parent)
            if bill.usd:
                for scope in bill.scopes:
                    self._add(scope, bill.day, 0, bill.usd)
                    self._add(scope, bill.month, 0, bill.usd)

    async def renew(self, ids: list[str], ttl: float) -> None:
        expires = self._now() + ttl
        for call_id in ids:
            held = self.reservations.get(call_id)
            if held is not None:
                held.expires = expires
                heapq.heappush(self._expiry, (expires, call_id))

    async def usage(self, rules: list[Rule], day: str, month: str) -> list[Usage]:
        now = self._now()
        self._purge(now)
        out = []
        for rule in rules:
            spent_day, reserved_day = self.money.get((rule.scope, day), (0, 0))
            spent_month, reserved_month = self.money.get((rule.scope, month), (0, 0))
            requests = tokens = None
            if rule.rpm:
                requests = _window(None, rule.rpm,
                                   _level(self.buckets.get((rule.scope, "r")), rule.rpm, now))
            if rule.tpm:
                tokens = _window(None, rule.tpm,
                                 _level(self.buckets.get((rule.scope, "t")), rule.tpm, now))
            out.append(Usage(rule.scope, spent_day, reserved_day, spent_month, reserved_month,
                             self.in_flight.get(rule.scope, 0), requests, tokens))
        return out

    async def seed(self, spent: list[tuple[str, str, int]]) -> None:
        for scope, period, amount in spent:
            figures = self.money.get((scope, period))
            if figures is None:
                self.money[(scope, period)] = [amount, 0]

    async def close(self) -> None:
        return None

    # --- bookkeeping ----------------------------------------------------------------------

    def _add(self, scope: str, period: str, index: int, amount: int) -> None:
        self.money.setdefault((scope, period), [0, 0])[index] += amount

    def _free_slot(self, scope: str) -> None:
        count = self.in_flight.get(scope, 0) - 1
        if count <= 0:
            self.in_flight.pop(scope, None)
        else:
            self.in_flight[scope] = count

    def _drop(self, call_id: str) -> _Reservation | None:
        held = self.reservations.pop(call_id, None)
        if held is None:
            return None
        for scope in held.slots:
            self._free_slot(scope)
        for scope in held.money if held.usd else ():
            self._add(scope, held.day, 1, -held.usd)
            self._add(scope, held.month, 1, -held.usd)
        return held

    def _purge(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            expires, call_id = heapq.heappop(expiry)
            held = self.reservations.get(call_id)
            if held is not None and held.expires <= now:
                self._drop(call_id)
