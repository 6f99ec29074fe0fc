"""Benchmark the gateway against a direct-to-simulator baseline, in one run on this machine.

    python bench/run.py [--quick]
                        [--phases latency routing throughput streams anthropic abort memory]
                        [--out bench/out] [--write-results] [--profile]

Starts the simulator and the gateway (one worker each) as child processes, runs each phase
against both, writes `<out>/results.json` and `<out>/report.md`, and with `--write-results`
replaces the report part of `bench/RESULTS.md`. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gauges
import host
import httpx
import limits
import postgres
import procs
import pyspy
import report
import wrk

BENCH = Path(__file__).resolve().parent
KEY = "sk-bench-key"
PHASES = ("latency", "routing", "limits", "throughput", "streams", "anthropic", "abort",
          "memory")  # run order


@dataclass(frozen=True)
class Timing:
    """How long each phase runs (seconds) and how large it is."""

    wrk_s: float = 10.0
    warmup_s: float = 2.0
    stream_s: float = 20.0
    abort_streams: int = 50
    abort_unary: int = 30
    open_streams: int = 500
    many_streams: int = 5000  # the per-stream memory cost is measured with this many


QUICK = Timing(wrk_s=3.0, warmup_s=1.0, stream_s=5.0, abort_streams=20, abort_unary=10,
               open_streams=100, many_streams=500)


@dataclass
class Bench:
    """The running servers and what the phases need to reach them."""

    out: Path
    timing: Timing
    sim: procs.Server
    gateway: procs.Server
    profile: bool
    quiet_s: float = 0.0
    redis_url: str | None = None  # for the limits phase's Redis store
    targets: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (url, model)
    gateways: dict[str, procs.Server] = field(default_factory=dict)  # SQLite, Postgres ledger
    servers: list[procs.Server] = field(default_factory=list)  # all started, for CPU use
    start_rss_mb: float = 0.0  # the gateway's, before its first call

    def settle(self) -> None:
        """Clear the simulator's records and, if asked, wait for other processes to go quiet."""
        httpx.post(f"{self.sim.url}/_sim/reset", timeout=5).raise_for_status()
        if self.quiet_s:
            busy = host.wait_quiet(self.quiet_s)
            print(f"  other processes use {busy:.0f}% of a core", flush=True)

    def measure(self, run: Callable[[], dict[str, Any]],
                warm_up: Callable[[], object] | None = None) -> dict[str, Any]:
        """`run()`'s figures with the CPU use during it. With --wait-quiet, a run during which
        other processes were busy is repeated (three tries at most) and the quietest kept.
        """
        tries: list[dict[str, Any]] = []
        while len(tries) < (3 if self.quiet_s else 1):
            self.settle()
            if warm_up is not None:
                warm_up()
            cpu = host.CpuWatch(self.servers)
            figures = run()
            figures["cpu"] = cpu.result()
            tries.append(figures)
            if figures["cpu"]["other_core_percent"] <= report.QUIET:
                break
            print("  other processes were busy during the measurement", flush=True)
        best = min(tries, key=lambda t: t["cpu"]["other_core_percent"])
        best["tries"] = len(tries)
        return best


def wrk_phase(bench: Bench, connections: int) -> dict[str, Any]:
    """wrk at `connections` against every target, each after a warm-up run."""
    script_dir, log = bench.out / "wrk", bench.out / "wrk.log"
    script_dir.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    for name, (url, model) in bench.targets.items():
        script = wrk.write_script(script_dir / f"post-{name}.lua", model, KEY)
        endpoint = f"{url}/v1/chat/completions"
        run = partial(wrk.run, endpoint, script, connections, bench.timing.wrk_s, log)
        results[name] = bench.measure(
            partial(_watched, run, url) if name in bench.gateways else run,
            partial(wrk.run, endpoint, script, connections, bench.timing.warmup_s, log))
    if bench.profile and connections > 1:
        script, seconds = script_dir / "post-gateway.lua", bench.timing.wrk_s
        endpoint = f"{bench.gateway.url}/v1/chat/completions"
        results["profile"] = pyspy.record(
            bench.gateway.pid, bench.out,
            lambda: wrk.run(endpoint, script, connections, seconds, log), seconds,
        )
    return results


def phase_routing(bench: Bench) -> dict[str, Any]:
    """wrk at concurrency 1 through the gateway: a model with one deployment (`one`) and one
    with two (`two`), run one-two-two-one so drift of the machine hits both alike."""
    script_dir, log = bench.out / "wrk", bench.out / "wrk.log"
    script_dir.mkdir(exist_ok=True)
    endpoint = f"{bench.gateway.url}/v1/chat/completions"
    runs: dict[str, list[dict[str, Any]]] = {"one": [], "two": []}
    for name in ("one", "two", "two", "one"):
        model = "bench-model" if name == "one" else "bench-routed"
        script = wrk.write_script(script_dir / f"post-routing-{name}.lua", model, KEY)
        runs[name].append(bench.measure(
            partial(wrk.run, endpoint, script, 1, bench.timing.wrk_s, log),
            partial(wrk.run, endpoint, script, 1, bench.timing.warmup_s, log)))
    return {name: _averaged(pair) for name, pair in runs.items()}


def _averaged(pair: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of two wrk runs' figures (latencies, requests/s, errors), the busier CPU."""
    keys = ("p50_us", "p90_us", "p99_us", "max_us", "mean_us", "rps", "error_count")
    figures: dict[str, Any] = {key: sum(run[key] for run in pair) / len(pair) for key in keys}
    figures["cpu"] = max((run["cpu"] for run in pair), key=lambda c: c["other_core_percent"])
    return figures


def _watched(run: Callable[[], dict[str, Any]], url: str) -> dict[str, Any]:
    """`run()`'s figures, the gateway's event-loop lag during it and its ledger backlog one
    second after it (rows not yet in the database)."""
    watch = gauges.Watch(url)
    figures = run()
    figures.update(watch.result())
    return figures


def _script(name: str, *args: object) -> list[str]:
    return [sys.executable, str(BENCH / name), *map(str, args)]


def phase_streams(bench: Bench) -> dict[str, Any]:
    """50 new streams a second (100 tokens at 100 tokens/s) against every target but the
    Postgres-ledger gateway (the ledger's database does not change how a stream relays)."""
    return {name: _open_loop(bench, url, model, "openai")
            for name, (url, model) in bench.targets.items() if name != "gateway-pg"}


def phase_anthropic(bench: Bench) -> dict[str, Any]:
    """The same open-loop streams on the Anthropic Messages API, relayed natively."""
    return {"direct": _open_loop(bench, bench.sim.url, "sim-claude", "anthropic"),
            "gateway": _open_loop(bench, bench.gateway.url, "bench-claude", "anthropic")}


def _open_loop(bench: Bench, url: str, model: str, api: str) -> dict[str, Any]:
    seconds = bench.timing.stream_s
    argv = _script("streams.py", "--url", url, "--key", KEY, "--model", model, "--api", api,
                   "--rate", 50, "--duration", seconds, "--ttft-ms", 200, "--tps", 100,
                   "--tokens", 100)
    run = partial(procs.run_json, argv, seconds + 60, bench.out / "streams.log")
    return bench.measure(partial(_watched, run, url) if url == bench.gateway.url else run)


def phase_abort(bench: Bench) -> dict[str, Any]:
    """Streaming and non-streaming calls abandoned by the client, through the gateway."""
    argv = _script("abort.py", "--gateway", bench.gateway.url, "--sim", bench.sim.url,
                   "--key", KEY, "--model", "bench-model",
                   "--streams", bench.timing.abort_streams, "--unary", bench.timing.abort_unary)
    run = partial(procs.run_json, argv, 120, bench.out / "abort.log")
    return bench.measure(partial(_watched, run, bench.gateway.url))


def phase_memory(bench: Bench) -> dict[str, Any]:
    """Gateway RSS (process and children) while N slow streams are open through it, then the
    cost of each stream with many more open."""
    count = bench.timing.open_streams
    bench.settle()
    idle, cpu = bench.gateway.rss_mb(), host.CpuWatch(bench.servers)
    held = _hold(bench, count)
    figures = {"streams": count, "open_at_measure": held["open"],
               "gateway_rss_mb": held["gateway_rss_mb"], "gateway_idle_rss_mb": idle,
               "gateway_start_rss_mb": bench.start_rss_mb, "sim_rss_mb": held["sim_rss_mb"],
               "cpu": cpu.result(), "client": held["client"]}
    many = bench.timing.many_streams
    before = bench.gateway.rss_mb()
    crowd = _hold(bench, many)
    figures["many"] = {"streams": many, "open_at_measure": crowd["open"],
                       "rss_before_mb": before, "rss_mb": crowd["gateway_rss_mb"],
                       "per_stream_kb": (crowd["gateway_rss_mb"] - before) * 1024 / max(
                           1, crowd["open"])}
    figures.update(gauges.Watch(bench.gateway.url).result())
    return figures


def _hold(bench: Bench, count: int) -> dict[str, Any]:
    """Open `count` slow streams, measure RSS once each has its first chunk, close them."""
    argv = _script("streams.py", "--url", bench.gateway.url, "--key", KEY,
                   "--model", "bench-model", "--hold", count, "--rate", 250, "--ttft-ms", 100,
                   "--tps", 2, "--tokens", 120, "--ready-timeout", 30 + count / 100,
                   "--hold-seconds", 120)
    client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              preexec_fn=procs.raise_fd_limit)
    try:
        line = client.stdout.readline() if client.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"stream holder failed: {line!r}")
        ready = json.loads(line[len("READY "):])
        rss, sim_rss = bench.gateway.rss_mb(), bench.sim.rss_mb()
        held, _ = client.communicate("go\n", timeout=120)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(timeout=5)
    return {"open": ready["open"], "gateway_rss_mb": rss, "sim_rss_mb": sim_rss,
            "client": json.loads(held.strip().splitlines()[-1])}


RUNNERS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "latency": partial(wrk_phase, connections=1), "routing": phase_routing,
    "throughput": partial(wrk_phase, connections=20),
    "streams": phase_streams, "anthropic": phase_anthropic, "abort": phase_abort,
    "memory": phase_memory,
    "limits": lambda bench: limits.phase(bench, KEY, bench.redis_url),
}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases, a smoke check")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    parser.add_argument("--write-results", action="store_true",
                        help="replace the report part of bench/RESULTS.md")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the gateway in an extra concurrency-20 run")
    parser.add_argument("--litellm", metavar="BIN",
                        help="LiteLLM's proxy command (default: beside this Python, or on PATH)")
    parser.add_argument("--postgres", default=postgres.DEFAULT, metavar="URL",
                        help="a Postgres database the benchmark may create a throwaway "
                        "database beside, for the Postgres-ledger gateway (default: %(default)s)")
    parser.add_argument("--no-postgres", action="store_true",
                        help="skip the Postgres-ledger gateway")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each measurement, wait up to this long for other "
                        "processes to go quiet")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="Redis for the limits phase's shared store (skipped if it does not "
                        "answer)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    procs.raise_fd_limit()
    results: dict[str, Any] = {"meta": host.describe(argv), "quick": args.quick, "phases": {}}
    litellm = procs.litellm_executable(args.litellm)
    results["litellm"] = f"measured ({litellm})" if litellm else "LiteLLM not installed: skipped"
    if not litellm:
        print("LiteLLM not installed: skipped", flush=True)
    started: list[procs.Server] = []
    database = None if args.no_postgres else postgres.Throwaway(args.postgres)
    try:
        sim = procs.start_sim(args.out)
        started.append(sim)
        gateway_config, litellm_config = procs.write_configs(args.out, sim.url, KEY)
        gateway = procs.start_gateway(gateway_config, args.out)
        started.append(gateway)
        bench = Bench(args.out, QUICK if args.quick else Timing(), sim, gateway, args.profile,
                      args.wait_quiet, redis_url=args.redis_url, servers=started,
                      start_rss_mb=gateway.rss_mb())
        bench.targets = {"direct": (sim.url, "sim-gpt"), "gateway": (gateway.url, "bench-model")}
        bench.gateways = {"gateway": gateway}
        if database is not None:
            config = procs.write_gateway_config(args.out / "gateway-pg.yaml", database.create(),
                                                sim.url, KEY)
            with_pg = procs.start_gateway(config, args.out, name="gateway-pg")
            started.append(with_pg)
            bench.targets["gateway-pg"] = (with_pg.url, "bench-model")
            bench.gateways["gateway-pg"] = with_pg
        if litellm:
            server = procs.start_litellm(litellm, litellm_config, args.out)
            started.append(server)
            bench.targets["litellm"] = (server.url, "bench-model")
        for name in PHASES:
            if name in args.phases:
                print(f"phase {name} ...", flush=True)
                began = time.monotonic()
                results["phases"][name] = RUNNERS[name](bench)
                print(f"phase {name} done in {time.monotonic() - began:.0f} s", flush=True)
    finally:
        for server in reversed(started):
            server.stop()
        if database is not None:
            database.drop()
    results["checks"] = report.checks(results)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    text = report.render(results)
    (args.out / "report.md").write_text(text)
    print(text)
    if args.write_results:
        report.write_results(BENCH / "RESULTS.md", text)


if __name__ == "__main__":
    main(sys.argv[1:])
