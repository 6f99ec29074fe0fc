"""Abort propagation through the gateway, run as its own process; prints one JSON object.

    python bench/abort.py --gateway http://127.0.0.1:P --sim http://127.0.0.1:S --model M

Streaming: `--streams` calls (one every `--gap-ms`), each 500 tokens at 50 tokens/s; the client
closes call i after k = 1 + i % 20 content chunks and notes time.time(). Non-streaming:
`--unary` calls whose answer takes 2 s; the client closes each after 200-500 ms. Every call
carries its own simulator tag, so afterwards `GET /_sim/stats` tells, per call, when the
simulator saw the connection close (`closed_at`) and when it generated each token. Delay =
closed_at - client close; tokens after close = token times later than the client close.
The gateway's `gateway_upstream_abort_seconds` histogram is scraped before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import uvloop
from client import Call, chat_request, percentile, start

METRIC = "gateway_upstream_abort_seconds"

# (simulator tag, request bytes, close after N content chunks, close after N seconds)
Plan = tuple[str, bytes, int | None, float | None]


async def abort_streams(args: argparse.Namespace, host: str, port: int) -> list[tuple[str, Call]]:
    """Streaming calls, closed by the client after 1..20 content chunks."""
    def plan(i: int) -> Plan:
        directive = f"[sim ttft_ms=100 tps=50 tokens=500 tag=ab-s-{i}]"
        request = chat_request(host, port, args.key, args.model, directive)
        return f"ab-s-{i}", request, 1 + i % 20, None

    return await _staggered(args.streams, args.gap_ms, host, port, plan)


async def abort_unary(args: argparse.Namespace, host: str, port: int) -> list[tuple[str, Call]]:
    """Non-streaming calls answered after 2 s, given up by the client after 200-500 ms."""
    def plan(i: int) -> Plan:
        directive = f"[sim ttft_ms=2000 tag=ab-u-{i}]"
        request = chat_request(host, port, args.key, args.model, directive, stream=False)
        return f"ab-u-{i}", request, None, 0.2 + 0.3 * (i % 7) / 6

    return await _staggered(args.unary, args.gap_ms, host, port, plan)


async def _staggered(count: int, gap_ms: float, host: str, port: int,
                     plan: Callable[[int], Plan]) -> list[tuple[str, Call]]:
    """Start call i = 0..count-1 every `gap_ms`, as `plan(i)` says; wait until all are over."""
    loop = asyncio.get_running_loop()
    calls: list[tuple[str, Call]] = []
    for i in range(count):
        tag, request, close_after, timeout = plan(i)
        call = await start(host, port, request, close_after)
        if timeout is not None:
            loop.call_later(timeout, call.close)
        calls.append((tag, call))
        await asyncio.sleep(gap_ms / 1000)
    await asyncio.wait([c.done for _, c in calls], timeout=15)
    for _, call in calls:
        call.close()
    return calls


def measure(calls: list[tuple[str, Call]], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-call delay (ms) and tokens generated after the client closed, summarized."""
    delays: list[float] = []
    after: list[int] = []
    problems: list[str] = []
    for tag, call in calls:
        record = records.get(tag)
        if call.closed_wall is None:
            problems.append(f"{tag}: the client never closed it ({call.error or 'finished'})")
        elif record is None or record.get("closed_at") is None:
            problems.append(f"{tag}: the simulator did not see the close")
        else:
            delays.append((record["closed_at"] - call.closed_wall) * 1000)
            after.append(sum(1 for t in record["token_times"] if t > call.closed_wall))
    return {
        "calls": len(calls),
        "measured": len(delays),
        "delay_ms": {"p50": percentile(delays, 50), "p90": percentile(delays, 90),
                     "max": percentile(delays, 100), "min": percentile(delays, 0)},
        "max_tokens_after_close": max(after) if after else None,
        "calls_with_tokens_after_close": sum(1 for n in after if n > 0),
        "problems": problems[:10],
    }


def scrape(gateway: str) -> dict[str, float]:
    """The abort histogram's count and sum (all providers) from the gateway's /metrics."""
    text = httpx.get(f"{gateway}/metrics", timeout=5).text
    totals = {"count": 0.0, "sum": 0.0}
    for kind in totals:
        for match in re.finditer(rf"^{METRIC}_{kind}(?:{{[^}}]*}})? (\S+)$", text, re.M):
            totals[kind] += float(match.group(1))
    return totals


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = urlsplit(args.gateway)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(f"{args.sim}/_sim/reset")
        before = scrape(args.gateway)
        streams = await abort_streams(args, host, port)
        unary = await abort_unary(args, host, port)
        await asyncio.sleep(0.5)  # let the last closes reach the simulator's records
        stats = (await http.get(f"{args.sim}/_sim/stats")).json()["requests"]
    after = scrape(args.gateway)
    records = {r["tag"]: r for r in stats if r.get("tag")}
    count = after["count"] - before["count"]
    total = after["sum"] - before["sum"]
    return {
        "stream": measure(streams, records),
        "unary": measure(unary, records),
        "gateway_metric": {"count": count, "sum_s": total,
                           "mean_ms": 1000 * total / count if count else None},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--sim", required=True)
    parser.add_argument("--key", default="sk-bench-key")
    parser.add_argument("--model", required=True)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--unary", type=int, default=30)
    parser.add_argument("--gap-ms", type=float, default=100.0, help="between call starts")
    args = parser.parse_args()
    print(orjson.dumps(uvloop.run(run(args))).decode(), flush=True)


if __name__ == "__main__":
    main()
