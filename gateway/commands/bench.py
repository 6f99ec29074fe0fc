"""`gateway bench MODEL... [--config F] [--url U] [--key K] [-n N] [--concurrency C]`: time to
first token, output speed and abort behaviour of configured models, measured through the
gateway.

Against a running gateway (`--url`), or one started from the config on a free loopback port
and stopped by its pid at the end. Each model gets `-n` streaming chat completions,
`--concurrency` at a time (the gateway translates them for Anthropic and Gemini models), then
one stream closed by the client after a few chunks: its ledger row says how long the gateway
took to close the upstream, and when the upstream is the simulator its stats say how many
tokens it still generated after the close.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from gateway.commands.bench_support import Progress, Simulators, percentile, started_gateway
from gateway.commands.table import render_table
from gateway.config import ConfigError, Settings, load_settings

HEADERS = ["model", "calls", "errors", "ttft p50 ms", "ttft p95 ms", "tok/s p50",
           "abort: closed after ms", "tokens after close", "stops on abort"]  # fmt: skip
DIGITS = [None, None, None, 1, 1, 1, 1]
PROMPT = "Count from 1 to 200, one number per line."
ABORT_AFTER = 3  # content chunks read before the client closes the stream


class CallFailed(Exception):
    pass


@dataclass
class Figures:
    ttft: list[float] = field(default_factory=list)
    tps: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "bench", help="measure TTFT, output speed and abort of models through the gateway")
    parser.add_argument("models", nargs="+", metavar="MODEL", help="configured model names")
    parser.add_argument("--config", help="YAML config file (to start a gateway, and to find "
                        "simulator upstreams)")  # fmt: skip
    parser.add_argument("--url", help="a running gateway (default: start one from the config)")
    parser.add_argument("--key", help="the key to call with (default: the admin key)")
    parser.add_argument("-n", type=int, default=20, help="streams per model (default 20)")
    parser.add_argument("--concurrency", type=int, default=4, help="at a time (default 4)")
    parser.set_defaults(func=bench)


def bench(args: argparse.Namespace) -> None:
    if args.n < 1 or args.concurrency < 1:
        sys.exit("gateway: -n and --concurrency must be at least 1")
    try:
        asyncio.run(_bench(args))
    except (ConfigError, RuntimeError) as exc:
        sys.exit(f"gateway: {exc}")


async def _bench(args: argparse.Namespace) -> None:
    settings: Settings | None = None
    if args.config or not args.url:
        settings = load_settings(args.config)
    unknown = [m for m in args.models if settings is not None and settings.model(m) is None]
    if unknown:
        raise ConfigError(f"not configured: {', '.join(unknown)}")
    with started_gateway(args.config, args.url) as (url, port):
        if settings is not None and port is not None:  # the simulator demo lives on that port
            settings = load_settings(args.config, overrides={"port": port})
        key = args.key or (settings.admin_key.get_secret_value()
                           if settings is not None and settings.admin_key else "gateway-bench")
        headers = {"authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
            simulators = await Simulators.find(settings, args.models)
            rows, problems = [], []
            for model in args.models:
                figures = await _measure(http, model, args, simulators)
                rows.append(await _row(http, model, figures, simulators))
                problems += [f"{model}: {error}" for error in figures.errors[:3]]
    print(render_table(HEADERS, rows, DIGITS))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)


async def _measure(
    http: httpx.AsyncClient, model: str, args: argparse.Namespace, simulators: Simulators
) -> Figures:
    figures = Figures()
    progress = Progress(model, args.n)
    gate = asyncio.Semaphore(args.concurrency)
    directive = simulators.directive(model, uuid.uuid4().hex[:12])

    async def one() -> None:
        async with gate:
            try:
                start = time.perf_counter()
                times, tokens, _ = await _stream(http, model, PROMPT + directive)
                figures.ttft.append(times[0] - start)
                if len(times) > 1 and times[-1] > times[0]:
                    figures.tps.append(((tokens or len(times)) - 1) / (times[-1] - times[0]))
            except (CallFailed, httpx.HTTPError) as exc:
                figures.errors.append(str(exc) or type(exc).__name__)
            progress.step()

    await asyncio.gather(*(one() for _ in range(args.n)))
    progress.close()
    return figures


async def _row(
    http: httpx.AsyncClient, model: str, figures: Figures, simulators: Simulators
) -> list[Any]:
    ms = [value * 1000 for value in figures.ttft]
    row: list[Any] = [model, len(figures.ttft) + len(figures.errors), len(figures.errors),
                      percentile(ms, 0.5), percentile(ms, 0.95), percentile(figures.tps, 0.5)]
    try:
        row += await _abort(http, model, simulators)
    except (CallFailed, httpx.HTTPError) as exc:
        figures.errors.append(f"abort check: {exc}")
        row += [None, None, None]
    return row


async def _abort(http: httpx.AsyncClient, model: str, simulators: Simulators) -> list[Any]:
    """Close a stream after ABORT_AFTER chunks: (ms until the gateway closed the upstream,
    tokens the upstream still generated after the close, whether it stopped)."""
    tag = uuid.uuid4().hex[:12]
    directive = simulators.directive(model, tag, "tokens=200 tps=50")
    _, _, call_id = await _stream(http, model, PROMPT + directive, stop_after=ABORT_AFTER)
    closed = time.time()
    row = await _ledger_row(http, call_id)
    closed_after = row.get("abort_latency_ms") if row else None
    after, stopped = await simulators.after_close(model, tag, closed)
    if stopped is None and closed_after is not None:
        stopped = "upstream closed"  # not the simulator: the vendor's own behaviour is unseen
    return [closed_after, after, stopped]


async def _stream(
    http: httpx.AsyncClient, model: str, content: str, stop_after: int | None = None
) -> tuple[list[float], int | None, str]:
    """One streaming call: when each content chunk arrived, the usage's output tokens, and the
    call's id; with `stop_after`, the client closes it after that many content chunks."""
    body = {"model": model, "stream": True, "stream_options": {"include_usage": True},
            "max_tokens": 256, "messages": [{"role": "user", "content": content}]}
    times: list[float] = []
    tokens = None
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        call_id = response.headers.get("x-gateway-request-id", "")
        if response.status_code != 200:
            raise CallFailed(f"HTTP {response.status_code}: {(await response.aread())[:200]!r}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = orjson.loads(line[6:])
            if "error" in event:
                raise CallFailed(str(event["error"].get("message", event["error"]))[:200])
            if any((c.get("delta") or {}).get("content") for c in event.get("choices") or ()):
                times.append(time.perf_counter())
                if stop_after is not None and len(times) >= stop_after:
                    break  # leaving the block closes the connection mid-stream
            tokens = (event.get("usage") or {}).get("completion_tokens", tokens)
    if not times:
        raise CallFailed("the stream carried no content")
    return times, tokens, call_id


async def _ledger_row(http: httpx.AsyncClient, call_id: str) -> dict[str, Any] | None:
    """The call's ledger row once written (within a few seconds), if this key may read it."""
    for _ in range(50):
        response = await http.get(f"/v1/gateway/requests/{call_id}")
        if response.status_code == 200:
            row: dict[str, Any] = response.json()
            return row
        if response.status_code != 404:
            return None
        await asyncio.sleep(0.1)
    return None
