"""The `limits` phase: what limits and budgets add to a call at concurrency 1.

Each gateway is measured twice with `wrk -t1 -c1` on the same small chat completion: with the
benchmark's key (a workload without limits: admission is skipped) and with a key whose workload
and key both have every limit set, far above what the run uses (rpm, tpm, concurrency, USD per
day and month), so every call is admitted through the store and settled. First the benchmark's
gateway (the in-process store), then a second gateway on Redis (`--redis-url`; skipped when
Redis does not answer).
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import procs
import wrk
import yaml

LIMITED_KEY = "sk-bench-limited"
LIMITS = {"rpm": 10**9, "tpm": 10**12, "concurrency": 10**4, "usd_per_day": 10**6,
          "usd_per_month": 10**7}
WORKLOAD = {"name": "bench-limited", "limits": LIMITS,
            "keys": [{"key": LIMITED_KEY, "limits": LIMITS}]}


def redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def phase(bench: Any, key: str, redis_url: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {"in_process": _pair(bench, bench.gateway.url, key)}
    if not redis_url or not redis_answers(redis_url):
        results["redis"] = None
        results["redis_note"] = f"Redis not reachable at {redis_url}: skipped"
        print(f"  {results['redis_note']}", flush=True)
        return results
    config = yaml.safe_load((bench.out / "gateway.yaml").read_text())
    config["redis_url"] = redis_url
    config["database_url"] = f"sqlite+aiosqlite:///{bench.out.resolve()}/bench-redis.db"
    path = bench.out / "gateway-redis.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = procs.free_port()
    argv = [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--port", str(port),
            "--workers", "1"]
    server = procs.Server("gateway-redis", argv, port, bench.out)
    bench.servers.append(server)
    try:
        server.wait_ready("/readyz")
        results["redis"] = _pair(bench, server.url, key)
    finally:
        server.stop()
        bench.servers.remove(server)
    return results


def _pair(bench: Any, url: str, key: str) -> dict[str, Any]:
    """The gateway at `url` with the unlimited key, then with the limited one."""
    script_dir, log = bench.out / "wrk", bench.out / "wrk.log"
    script_dir.mkdir(exist_ok=True)
    endpoint = f"{url}/v1/chat/completions"
    figures = {}
    for name, who in (("unlimited", key), ("limited", LIMITED_KEY)):
        script = wrk.write_script(script_dir / f"limits-{name}.lua", "bench-model", who)
        run = partial(wrk.run, endpoint, script, 1, bench.timing.wrk_s, log)
        warm = partial(wrk.run, endpoint, script, 1, bench.timing.warmup_s, log)
        figures[name] = bench.measure(run, warm)
    return figures


def added_ms(pair: dict[str, Any] | None, key: str = "p50_us") -> float | None:
    if not pair:
        return None
    return (pair["limited"][key] - pair["unlimited"][key]) / 1000


def table(phase_results: dict[str, Any], render: Any) -> str:
    """Rows per store: p50/p90/p99 without and with limits, and what they add."""
    head = ["", "no limits", "every limit", "added", "target"]
    rows = []
    for store, label in (("in_process", "in-process"), ("redis", "Redis")):
        pair = phase_results.get(store)
        if not pair:
            rows.append([f"{label}: {phase_results.get('redis_note', 'not measured')}",
                         "", "", "", ""])
            continue
        for key, pct in (("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99")):
            a, b = pair["unlimited"][key] / 1000, pair["limited"][key] / 1000
            rows.append([f"{label} latency {pct} (ms)", render(a, 3), render(b, 3),
                         render(b - a, 3), "added <= 0.3 (with routing)" if pct == "p50" else ""])
        rows.append([f"{label} errors", str(pair["unlimited"]["error_count"]),
                     str(pair["limited"]["error_count"]), "", "0"])
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                      *("| " + " | ".join(row) + " |" for row in rows)])
