"""Open-loop streaming load, run as its own process; prints one JSON object on stdout.

    python bench/streams.py --url http://127.0.0.1:P --key K --model M \\
        --rate 50 --duration 20 --ttft-ms 200 --tps 100 --tokens 100

starts `rate` new streams a second for `duration` seconds whatever the server's pace (open
loop), each asking the simulator (by directive) for `tokens` tokens at `tps` after `ttft-ms`.
Chunks/s counts the content chunks received within the ideal run time plus one second, so a
server that falls behind shows fewer. `client` reports this process's own CPU use and how late
it started streams, to show the load generator was not the bottleneck.

With `--hold N`, it instead opens N streams (at `rate` a second), prints `READY {...}` once each
has received its first chunk (or after `--ready-timeout`), waits for a line on stdin (at most
`--hold-seconds`), closes them all and prints the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvloop
from client import PATTERNS, Call, chat_request, percentile, start

GRACE = 5.0  # seconds to wait for late streams after the ideal end, before closing them
LONG_GAP = 0.025  # seconds: a gap this long is listed, with what the other streams saw then
TICK = 0.005  # seconds between this process's own loop-lag ticks


class LoopLag:
    """This process's own event-loop lag: ticks later than LONG_GAP / 2 (when, how late), so a
    long gap can be told apart from a stall of the load generator itself."""

    def __init__(self) -> None:
        self.late: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            late = time.perf_counter() - before - TICK
            if late > LONG_GAP / 2:
                self.late.append((before, late))


def long_gaps(calls: list[Call], t0: float, lag: LoopLag, top: int = 5) -> list[dict[str, Any]]:
    """The longest gaps over LONG_GAP: when (s after the start), how long, how many other
    streams were open across it and how many of those received nothing in it either (all of
    them: a stall of a whole process), and this process's own worst lag then."""
    found = []
    for c in calls:
        times = c.chunk_times
        found.extend((b - a, a, b) for a, b in zip(times, times[1:], strict=False)
                     if b - a > LONG_GAP)
    found.sort(reverse=True)
    out = []
    for gap, a, b in found[:top]:
        across = [c for c in calls if len(c.chunk_times) > 1
                  and c.chunk_times[0] < a and c.chunk_times[-1] > b]
        quiet = sum(1 for c in across
                    if not any(a + 0.012 < t < b for t in c.chunk_times))
        own = max((late for at, late in lag.late if a - 0.05 < at < b), default=0.0)
        out.append({"at_s": round(a - t0, 3), "ms": round(gap * 1000, 1),
                    "open_across": len(across), "also_quiet": quiet,
                    "load_generator_lag_ms": round(own * 1000, 1)})
    return out


def summarize(calls: list[Call], window: tuple[float, float], tokens: int) -> dict[str, Any]:
    """TTFT, chunk rate and inter-chunk gaps over finished calls (times in ms)."""
    ttfts = [c.ttft * 1000 for c in calls if c.ttft is not None]
    gaps: list[float] = []
    rates: list[float] = []
    in_window = 0
    for c in calls:
        times = c.chunk_times
        gaps.extend((b - a) * 1000 for a, b in zip(times, times[1:], strict=False))
        in_window += sum(1 for t in times if t <= window[1])
        if len(times) > 1 and times[-1] > times[0]:
            rates.append((len(times) - 1) / (times[-1] - times[0]))
    completed = [
        c for c in calls if c.complete and c.status == 200 and len(c.chunk_times) == tokens
    ]
    errors: dict[str, int] = {}
    for c in calls:
        if c not in completed:
            reason = c.error or (f"status {c.status}" if c.status != 200 else "incomplete")
            errors[reason[:80]] = errors.get(reason[:80], 0) + 1
    seconds = window[1] - window[0]
    return {
        "streams": len(calls),
        "completed": len(completed),
        "failed": len(calls) - len(completed),
        "errors": errors,
        "ttft_ms": _pcts(ttfts),
        "gap_ms": _pcts(gaps),
        "chunks": sum(len(c.chunk_times) for c in calls),
        "chunks_in_window": in_window,
        "window_s": seconds,
        "chunks_per_s": in_window / seconds,
        "stream_chunks_per_s_p50": percentile(rates, 50),
    }


def _pcts(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": percentile(values, 100),
            "n": len(values)}


async def open_streams(args: argparse.Namespace, count: int) -> tuple[list[Call], float, float]:
    """Start `count` streams at `args.rate` a second; (calls, start time, worst start lag s)."""
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    directive = f"[sim ttft_ms={args.ttft_ms:g} tps={args.tps:g} tokens={args.tokens}]"
    request = chat_request(host, port, args.key, args.model, directive, api=args.api)
    pattern = PATTERNS[args.api]
    pending: list[asyncio.Task[Call]] = []
    t0 = time.perf_counter()
    lag = 0.0
    for i in range(count):
        delay = t0 + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, -delay)
        pending.append(asyncio.ensure_future(start(host, port, request, None, pattern)))
    calls = list(await asyncio.gather(*pending))
    return calls, t0, lag


async def run_open_loop(args: argparse.Namespace) -> dict[str, Any]:
    cpu0 = _cpu()
    count = round(args.rate * args.duration)
    stream_s = args.ttft_ms / 1000 + args.tokens / args.tps
    ideal_end_s = (count - 1) / args.rate + stream_s
    own = LoopLag()
    own.start()
    calls, t0, lag = await open_streams(args, count)
    remaining = t0 + ideal_end_s + GRACE - time.perf_counter()
    await asyncio.wait([c.done for c in calls], timeout=max(remaining, 0.1))
    for c in calls:
        c.close()
    await asyncio.wait([c.done for c in calls], timeout=5)
    own.stop()
    result = summarize(calls, (t0, t0 + ideal_end_s + 1.0), args.tokens)
    result["long_gaps"] = long_gaps(calls, t0, own)
    wall = time.perf_counter() - t0
    result["client"] = {"cpu_percent": 100 * (_cpu() - cpu0) / wall, "max_start_lag_ms": lag * 1e3}
    result["ideal_chunks_per_s"] = count * args.tokens / (ideal_end_s + 1.0)
    return result


async def run_hold(args: argparse.Namespace) -> dict[str, Any]:
    calls, _, _ = await open_streams(args, args.hold)
    await asyncio.wait([c.first for c in calls], timeout=args.ready_timeout)
    ready = sum(1 for c in calls if c.ttft is not None and not c.done.done())
    print("READY " + orjson.dumps({"open": ready, "streams": len(calls)}).decode(), flush=True)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.hold_seconds)
    except TimeoutError:
        pass
    for c in calls:
        c.close()
    await asyncio.wait([c.done for c in calls], timeout=5)
    ttfts = [c.ttft * 1000 for c in calls if c.ttft is not None]
    errors = sorted({c.error for c in calls if c.error})[:5]
    return {"streams": len(calls), "open_at_ready": ready, "ttft_ms": _pcts(ttfts),
            "errors": errors}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--key", default="sk-bench-key")
    parser.add_argument("--model", required=True)
    parser.add_argument("--api", choices=sorted(PATTERNS), default="openai",
                        help="OpenAI chat completions or Anthropic Messages")
    parser.add_argument("--rate", type=float, default=50.0, help="new streams per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of new streams")
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--tps", type=float, default=100.0)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--hold", type=int, default=0, help="hold this many streams open")
    parser.add_argument("--ready-timeout", type=float, default=30.0)
    parser.add_argument("--hold-seconds", type=float, default=60.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    runner = run_hold if args.hold else run_open_loop
    result = uvloop.run(runner(args))
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
