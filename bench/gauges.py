"""What the gateway reports about itself on /metrics, read around a measurement: its ledger
backlog one second after the load stopped, and the event-loop lag it saw during the load."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

_LAG_BUCKET = re.compile(r'^gateway_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', re.M)
_PENDING = re.compile(r"^gateway_ledger_pending (\S+)$", re.M)


def scrape(url: str) -> str:
    return httpx.get(f"{url}/metrics", timeout=10).text


def lag_buckets(text: str) -> dict[float, float]:
    """Cumulative counts of `gateway_event_loop_lag_seconds` by upper bound (seconds)."""
    return {float(le): float(count) for le, count in _LAG_BUCKET.findall(text)}


def lag_between(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """The lag histogram of the ticks between two scrapes: how many, how many late by more
    than 10 and 50 ms, and the bucket bounds of the p99 and the worst tick (ms)."""
    delta = {le: after[le] - before.get(le, 0.0) for le in sorted(after)}
    total = delta.get(float("inf"), 0.0)
    if not total:
        return {"ticks": 0, "over_10ms": 0, "over_50ms": 0, "p99_le_ms": None, "max_le_ms": None}
    bounds = [le for le in delta if le != float("inf")]
    p99 = next((le for le in bounds if delta[le] >= 0.99 * total), float("inf"))
    worst = next((le for le in bounds if delta[le] >= total), float("inf"))
    return {
        "ticks": int(total),
        "over_10ms": int(total - delta.get(0.01, 0.0)),
        "over_50ms": int(total - delta.get(0.05, 0.0)),
        "p99_le_ms": p99 * 1000,
        "max_le_ms": worst * 1000,
    }


def ledger_pending(text: str) -> float | None:
    found = _PENDING.search(text)
    return float(found.group(1)) if found else None


class Watch:
    """Scrape before a measurement; `result()` one second after it: backlog and loop lag."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.before = lag_buckets(scrape(url))

    def result(self, settle_s: float = 1.0) -> dict[str, Any]:
        time.sleep(settle_s)
        text = scrape(self.url)
        return {"ledger_pending_after_1s": ledger_pending(text),
                "loop_lag": lag_between(self.before, lag_buckets(text))}
