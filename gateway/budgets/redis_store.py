"""The buckets in Redis, shared by every gateway replica: one script per step (`scripts`),
over the lean pipelined connection (`resp`).

Admission is one EVALSHA round trip (or none, under a lease: `leases`); releases and
settlements are sent off the request path, many at a time.
"""

from __future__ import annotations

from typing import Any

from gateway.budgets import scripts
from gateway.budgets.resp import LeanRedis, Script
from gateway.budgets.terms import Ask, Bill, Grant, Rule, Share, Usage, Verdict, Window

PREFIX = "gateway:{limits}:"  # + the ledger database's tag: one set of budgets per ledger
SETTLE_CHUNK = 200  # bills per script call


def _window(limit: Any, remaining: Any, reset_ms: Any) -> Window | None:
    limit = int(limit)
    return Window(limit, int(remaining), int(reset_ms) / 1000) if limit else None


_ADMIT, _RELEASE, _SETTLE = Script(scripts.ADMIT), Script(scripts.RELEASE), Script(scripts.SETTLE)
_RENEW, _USAGE, _SEED = Script(scripts.RENEW), Script(scripts.USAGE), Script(scripts.SEED)
_TAKE, _GIVE = Script(scripts.LEASE_TAKE), Script(scripts.LEASE_GIVE)


class RedisStore:
    def __init__(self, client: LeanRedis, prefix: str = PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = PREFIX) -> RedisStore:
        return cls(LeanRedis(url), prefix)

    async def admit(self, ask: Ask) -> Verdict:
        args: list[Any] = [
            self.prefix, ask.id, int(ask.ttl * 1000), ask.usd, ask.tokens, int(ask.slot),
            ask.day, ask.month, len(ask.rules),
        ]
        for rule in ask.rules:
            args += [rule.scope, rule.rpm, rule.tpm, rule.concurrency, rule.usd_per_day,
                     rule.usd_per_month]
        reply = await self.client.run(_ADMIT, *args, *ask.releases)
        requests, tokens = _window(*reply[4:7]), _window(*reply[7:10])
        if reply[0] == 1:
            return Verdict(requests=requests, tokens=tokens)
        retry = int(reply[3])
        return Verdict(
            reply[1].decode(), reply[2].decode(), None if retry < 0 else retry / 1000,
            requests, tokens,
        )

    async def take(self, share: Share) -> Grant | None:
        """Lease headroom ahead of calls (`leases`): None when it is not there to take."""
        args: list[Any] = [
            self.prefix, share.id, int(share.ttl * 1000), share.day, share.month,
            share.requests, share.tokens, share.slots, share.usd, share.least, len(share.rules),
        ]
        for rule in share.rules:
            args += [rule.scope, rule.rpm, rule.tpm, rule.concurrency, rule.usd_per_day,
                     rule.usd_per_month]
        reply = await self.client.run(_TAKE, *args)
        if reply[0] != 1:
            return None
        return Grant(int(reply[1]), _window(*reply[2:5]), _window(*reply[5:8]))

    async def give(self, share: Share, close: bool) -> None:
        """Give back a lease's unused headroom (`share`'s amounts); `close` ends the lease."""
        args: list[Any] = [self.prefix, share.id, share.requests, share.tokens, share.slots,
                           share.usd, int(close)]
        for rule in share.rules:
            if rule.rpm:
                args += [rule.scope, rule.rpm]
        await self.client.run(_GIVE, *args)

    async def release(self, ids: list[str]) -> None:
        if ids:
            await self.client.run(_RELEASE, self.prefix, *ids)

    async def settle(self, bills: list[Bill]) -> None:
        for start in range(0, len(bills), SETTLE_CHUNK):
            args: list[Any] = [self.prefix]
            for bill in bills[start : start + SETTLE_CHUNK]:
                args += [bill.id, bill.usd, bill.tokens, bill.day, bill.month,
                         "\n".join(bill.scopes), bill.parent or "", bill.share]
            await self.client.run(_SETTLE, *args)

    async def renew(self, ids: list[str], ttl: float) -> None:
        if ids:
            await self.client.run(_RENEW, self.prefix, int(ttl * 1000), *ids)

    async def usage(self, rules: list[Rule], day: str, month: str) -> list[Usage]:
        args: list[Any] = [self.prefix, day, month, len(rules)]
        for rule in rules:
            args += [rule.scope, rule.rpm, rule.tpm]
        rows = await self.client.run(_USAGE, *args) if rules else []
        out = []
        for rule, row in zip(rules, rows, strict=True):
            spent_day, reserved_day, spent_month, reserved_month, in_flight = map(int, row[:5])
            out.append(Usage(rule.scope, spent_day, reserved_day, spent_month, reserved_month,
                             in_flight, _window(*row[5:8]), _window(*row[8:11])))
        return out

    async def seed(self, spent: list[tuple[str, str, int]]) -> None:
        args: list[Any] = [self.prefix]
        for scope, period, amount in spent:
            args += [scope, period, amount]
        if spent:
            await self.client.run(_SEED, *args)

    async def close(self) -> None:
        await self.client.close()
