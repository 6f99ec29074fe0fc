"""The SPEC's performance targets checked against results, and the Markdown report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import limits

MARKER = "<!-- analysis -->"
QUIET = 25.0  # percent of a core used by other processes above which figures are suspect
Row = list[str]


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000


def _f(value: float | None, digits: int = 2, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def _check(phase: str, what: str, value: float | None, limit: float, unit: str,
           at_least: bool = False) -> dict[str, Any]:
    met = None if value is None else (value >= limit if at_least else value <= limit)
    sign = ">=" if at_least else "<="
    return {"phase": phase, "what": what, "value": value, "unit": unit,
            "target": f"{sign} {limit:g} {unit}".strip(), "met": met}


def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per SPEC target of the phases that ran (plus the benchmark's own sanity)."""
    phases, out = results["phases"], []
    if "latency" in phases:
        d, g = phases["latency"]["direct"], phases["latency"]["gateway"]
        out.append(_check("latency", "added p50, concurrency 1",
                          _ms(g["p50_us"] - d["p50_us"]), 1, "ms"))
        out.append(_check("latency", "added p99, concurrency 1",
                          _ms(g["p99_us"] - d["p99_us"]), 2, "ms"))
        out.append(_check("latency", "added max, concurrency 1",
                          _ms(g["max_us"] - d["max_us"]), 10, "ms"))
    if "routing" in phases:
        one, two = phases["routing"]["one"], phases["routing"]["two"]
        out.append(_check("routing", "added p50 by a second deployment, concurrency 1",
                          _ms(two["p50_us"] - one["p50_us"]), 0.3, "ms"))
    if "throughput" in phases:
        d = phases["throughput"]["direct"]
        for name in GATEWAYS:
            g = phases["throughput"].get(name)
            if g is None:
                continue
            label = LEDGERS[name]
            out.append(_check("throughput", f"requests/s, concurrency 20 ({label})", g["rps"],
                              1500, "req/s", at_least=True))
            out.append(_check("throughput", f"added p99, concurrency 20 ({label})",
                              _ms(g["p99_us"] - d["p99_us"]), 10, "ms"))
            out.append(_check("throughput", f"errors (non-2xx, socket) ({label})",
                              g["error_count"], 0, ""))
    for phase in ("streams", "anthropic"):
        if phase not in phases:
            continue
        d, g = phases[phase]["direct"], phases[phase]["gateway"]
        out.append(_check(phase, "client keeps up: direct chunks/s per stream",
                          d["stream_chunks_per_s_p50"], 95, "chunks/s", at_least=True))
        out.append(_check(phase, "added TTFT p50", _diff(g, d, "ttft_ms", "p50"), 5, "ms"))
        out.append(_check(phase, "added TTFT p99", _diff(g, d, "ttft_ms", "p99"), 5, "ms"))
        out.append(_check(phase, "chunks/s, % of direct",
                          100 * g["chunks_per_s"] / d["chunks_per_s"], 95, "%", at_least=True))
        out.append(_check(phase, "inter-chunk gap p99 over direct",
                          _diff(g, d, "gap_ms", "p99"), 5, "ms"))
        out.append(_check(phase, "inter-chunk gap max over direct",
                          _diff(g, d, "gap_ms", "max"), 10, "ms"))
        out.append(_check(phase, "failed streams", g["failed"], 0, ""))
    if "abort" in phases:
        for kind in ("stream", "unary"):
            a = phases["abort"][kind]
            label = "streaming" if kind == "stream" else "non-streaming"
            out.append(_check("abort", f"{label}: delay p50", a["delay_ms"]["p50"], 2, "ms"))
            out.append(_check("abort", f"{label}: delay max", a["delay_ms"]["max"], 10, "ms"))
            out.append(_check("abort", f"{label}: tokens after close",
                              a["max_tokens_after_close"], 1, "tokens"))
            out.append(_check("abort", f"{label}: calls not seen closing",
                              a["calls"] - a["measured"], 0, ""))
    if "memory" in phases:
        m = phases["memory"]
        out.append(_check("memory", f"gateway RSS, {m['open_at_measure']} open streams",
                          m["gateway_rss_mb"], 150, "MB"))
        out.append(_check("memory", "streams open when measured",
                          m["open_at_measure"], m["streams"], "", at_least=True))
    for name, phase in phases.items():
        for target, figures in _watched(phase):
            out.append(_check(name, f"ledger rows pending 1 s after ({LEDGERS[target]})",
                              figures["ledger_pending_after_1s"], 0, "rows"))
    if "limits" in phases:
        for store, label in (("in_process", "in-process"), ("redis", "Redis")):
            out.append(_check("limits", f"added p50 with every limit, {label}, concurrency 1",
                              limits.added_ms(phases["limits"].get(store)), 0.3, "ms"))
    noise = [m["cpu"]["other_core_percent"] for m in _measurements(phases)]
    if noise:
        out.append(_check("machine", "other processes' CPU during a measurement, max",
                          max(noise), QUIET, "% of a core"))
    return out


GATEWAYS = ("gateway", "gateway-pg")
LEDGERS = {"gateway": "SQLite ledger", "gateway-pg": "Postgres ledger"}


def _watched(phase: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(gateway, figures) of a phase's runs that read the gateway's own gauges afterwards."""
    if "ledger_pending_after_1s" in phase:
        return [("gateway", phase)]
    return [(name, phase[name]) for name in GATEWAYS
            if isinstance(phase.get(name), dict) and "ledger_pending_after_1s" in phase[name]]


def _lag(figures: dict[str, Any]) -> str:
    lag = figures.get("loop_lag") or {}
    if not lag.get("ticks"):
        return "n/a"
    return (f"p99 <= {_f(lag['p99_le_ms'], 1)} ms, worst <= {_f(lag['max_le_ms'], 1)} ms; "
            f"{lag['over_10ms']} of {lag['ticks']} ticks late > 10 ms")


def _measurements(phases: dict[str, Any]) -> list[dict[str, Any]]:
    """Every timed run that recorded its CPU use (not memory: RSS does not depend on it)."""
    found = []
    for name, phase in phases.items():
        if name == "memory":
            continue
        found += [v for v in phase.values() if isinstance(v, dict) and "cpu" in v]
        if name == "limits":  # {store: {unlimited, limited}}
            found += [run for pair in phase.values() if isinstance(pair, dict)
                      for run in pair.values() if isinstance(run, dict) and "cpu" in run]
        if "cpu" in phase:
            found.append(phase)
    return found


def _diff(g: dict[str, Any], d: dict[str, Any], key: str, pct: str) -> float | None:
    a, b = g[key][pct], d[key][pct]
    return None if a is None or b is None else a - b


CPU_LABEL = "CPU: benchmark / other processes / interrupts (% of a core)"


def _cpu(measured: dict[str, Any]) -> str:
    cpu = measured["cpu"]
    return (f"{cpu['bench_core_percent']:.0f} / {cpu['other_core_percent']:.0f} / "
            f"{cpu['irq_core_percent']:.0f}")


def _table(head: Row, rows: list[Row]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _wrk_table(phase: dict[str, Any], targets: dict[str, str]) -> str:
    """direct, then each gateway with what it adds, then the others (LiteLLM)."""
    gateways = [n for n in GATEWAYS if n in phase]
    others = [n for n in ("litellm",) if n in phase]
    head = ["", "direct"]
    for name in gateways:
        head += [f"gateway, {LEDGERS[name]}", "added"]
    head += [*others, "target"]
    d = phase["direct"]

    def row(label: str, cell: Any, added: Any, target: str = "") -> Row:
        cells = [label, cell(d)]
        for name in gateways:
            cells += [cell(phase[name]), added(phase[name])]
        return [*cells, *[cell(phase[n]) for n in others], target]

    rows = [
        row(f"latency {label} (ms)", lambda r, k=key: _f(_ms(r[k]), 3),
            lambda r, k=key: _f(_ms(r[k] - d[k]), 3), targets.get(label, ""))
        for key, label in (("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"),
                           ("max_us", "max"))
    ]
    rows.append(row("requests/s", lambda r: _f(r["rps"], 0), lambda r: "",
                    targets.get("rps", "")))
    rows.append(row("errors", lambda r: str(r["error_count"]), lambda r: "", "0"))
    rows.append(row("ledger rows pending 1 s after the run",
                    lambda r: _f(r.get("ledger_pending_after_1s"), 0) if r is not d else "",
                    lambda r: "", "0"))
    rows.append(row("event-loop lag during the run (gateway_event_loop_lag_seconds)",
                    lambda r: _lag(r) if r is not d else "", lambda r: ""))
    rows.append(row(CPU_LABEL, _cpu, lambda r: ""))
    return _table(head, rows)


def _streams_table(phase: dict[str, Any]) -> str:
    others = [n for n in ("litellm",) if n in phase]
    d, g = phase["direct"], phase["gateway"]
    head = ["", "direct", "gateway", "gateway - direct", *others, "target"]

    def row(label: str, get: Any, digits: int = 1, target: str = "", diff: bool = True) -> Row:
        a, b = get(d), get(g)
        delta = _f(b - a, digits) if diff and a is not None and b is not None else ""
        return [label, _f(a, digits), _f(b, digits), delta,
                *[_f(get(phase[n]), digits) for n in others], target]

    return _table(head, [
        row("TTFT p50 (ms)", lambda r: r["ttft_ms"]["p50"], target="added <= 5"),
        row("TTFT p99 (ms)", lambda r: r["ttft_ms"]["p99"], target="added <= 5"),
        row("chunks/s (all streams)", lambda r: r["chunks_per_s"], 0,
            f"gateway >= 95% of direct (is {100 * g['chunks_per_s'] / d['chunks_per_s']:.1f}%)"),
        row("chunks/s per stream, p50", lambda r: r["stream_chunks_per_s_p50"]),
        row("inter-chunk gap p50 (ms)", lambda r: r["gap_ms"]["p50"], 2),
        row("inter-chunk gap p99 (ms)", lambda r: r["gap_ms"]["p99"], 2, "added <= 5"),
        row("inter-chunk gap max (ms)", lambda r: r["gap_ms"]["max"], 2, "added <= 10"),
        ["longest gap: streams open across it / also quiet in it", _longest(d), _longest(g), "",
         *[_longest(phase[n]) for n in others], ""],
        row("streams completed", lambda r: r["completed"], 0, diff=False),
        row("streams failed", lambda r: r["failed"], 0, "0", diff=False),
        row("load generator CPU (% of a core)", lambda r: r["client"]["cpu_percent"], diff=False),
        ["gateway: ledger rows pending 1 s after", "", _f(g.get("ledger_pending_after_1s"), 0),
         "", *["" for _ in others], "0"],
        ["gateway: event-loop lag during the run", "", _lag(g), "", *["" for _ in others], ""],
        [CPU_LABEL, _cpu(d), _cpu(g), "", *[_cpu(phase[n]) for n in others], ""],
    ])


def _longest(result: dict[str, Any]) -> str:
    """The longest gap's reach: nearly every open stream quiet with it is a stall of a whole
    process (of the target, the simulator behind it, or the machine), a few is not."""
    gaps = result.get("long_gaps") or []
    if not gaps:
        return "none over 25 ms"
    gap = gaps[0]
    return f"{gap['ms']:.0f} ms at {gap['at_s']:.1f} s: {gap['open_across']} / {gap['also_quiet']}"


def _abort_table(phase: dict[str, Any]) -> str:
    s, u = phase["stream"], phase["unary"]
    rows = [
        ["calls (measured)", f"{s['calls']} ({s['measured']})", f"{u['calls']} ({u['measured']})",
         "all seen closing"],
        ["delay p50 (ms)", _f(s["delay_ms"]["p50"]), _f(u["delay_ms"]["p50"]), "<= 2"],
        ["delay p90 (ms)", _f(s["delay_ms"]["p90"]), _f(u["delay_ms"]["p90"]), ""],
        ["delay max (ms)", _f(s["delay_ms"]["max"]), _f(u["delay_ms"]["max"]), "<= 10"],
        ["max tokens generated after close", str(s["max_tokens_after_close"]),
         str(u["max_tokens_after_close"]), "<= 1"],
        ["calls with tokens after close", str(s["calls_with_tokens_after_close"]),
         str(u["calls_with_tokens_after_close"]), ""],
    ]
    rows.append(["ledger rows pending 1 s after the phase",
                 _f(phase.get("ledger_pending_after_1s"), 0), "", "0"])
    metric = phase["gateway_metric"]
    return _table(["", "streaming", "non-streaming", "target"], rows) + (
        f"\n\nGateway's own `gateway_upstream_abort_seconds` over this phase: count "
        f"{metric['count']:.0f}, sum {metric['sum_s'] * 1000:.2f} ms "
        f"(mean {_f(metric['mean_ms'])} ms). {CPU_LABEL}: {_cpu(phase)}.")


def _routing_table(phase: dict[str, Any]) -> str:
    one, two = phase["one"], phase["two"]
    rows = []
    for key, label in (("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"),
                       ("mean_us", "mean")):
        rows.append([f"latency {label} (ms)", _f(_ms(one[key]), 3), _f(_ms(two[key]), 3),
                     _f(_ms(two[key] - one[key]), 3), "added <= 0.3 ms" if label == "p50" else ""])
    rows.append(["requests/s", _f(one["rps"], 0), _f(two["rps"], 0), "", ""])
    rows.append(["errors", _f(one["error_count"], 0), _f(two["error_count"], 0), "", "0"])
    rows.append([CPU_LABEL, _cpu(one), _cpu(two), "", ""])
    return _table(["", "one deployment", "two deployments", "added", "target"], rows)


def _memory_table(m: dict[str, Any]) -> str:
    return _table(["", "value", "target"], [
        ["streams open through the gateway when measured", f"{m['open_at_measure']} of "
         f"{m['streams']}", ""],
        ["gateway RSS with them open (MB)", _f(m["gateway_rss_mb"], 1), "<= 150"],
        ["gateway RSS before opening them (MB)", _f(m["gateway_idle_rss_mb"], 1), ""],
        ["gateway RSS after start, before any call (MB)", _f(m["gateway_start_rss_mb"], 1), ""],
        ["simulator RSS at the same moment (MB)", _f(m["sim_rss_mb"], 1), ""],
        *([[f"gateway RSS with {m['many']['open_at_measure']} streams open (MB)",
            _f(m["many"]["rss_mb"], 1), ""],
           [f"cost of a stream, {m['many']['streams']} open (KB; RSS growth / streams)",
            _f(m["many"]["per_stream_kb"], 1), "reported"]] if "many" in m else []),
        ["ledger rows pending 1 s after the streams closed",
         _f(m.get("ledger_pending_after_1s"), 0), "0"],
        [CPU_LABEL, _cpu(m), ""],
    ])


SECTIONS = {
    "latency": ("Added latency, concurrency 1 (wrk -t1 -c1, small non-streaming chat)",
                lambda p: _wrk_table(p, {"p50": "added <= 1 ms", "p99": "added <= 2 ms",
                                         "max": "added <= 10 ms"})),
    "routing": ("Routing, concurrency 1 (wrk -t1 -c1 through the gateway: a model with one "
                "deployment, and one with two on the same simulator; each run twice, averaged)",
                _routing_table),
    "throughput": ("Throughput, concurrency 20 (wrk -t1 -c20)",
                   lambda p: _wrk_table(p, {"rps": "gateway >= 1,500",
                                            "p99": "added <= 10 ms"})),
    "streams": ("Streams: 50 new a second, 100 tokens at 100 tokens/s, TTFT 200 ms (open loop)",
                _streams_table),
    "anthropic": ("Streams on the Anthropic Messages API (native relay), same open loop",
                  _streams_table),
    "abort": ("Abort propagation (client close -> simulator sees the close)", _abort_table),
    "memory": ("Memory with open streams (tps=2, tokens=120)", _memory_table),
    "limits": ("Limits and budgets, concurrency 1 (wrk -t1 -c1; a key without limits, then one "
               "whose workload and key have every limit)", lambda p: limits.table(p, _f)),
}


def render(results: dict[str, Any]) -> str:
    """The whole Markdown report: header, a summary of targets, a table per phase."""
    meta = results["meta"]
    lines = [
        "# Benchmark results", "",
        f"- date: {meta['date']}; gateway commit {meta['commit']}"
        + (" with uncommitted changes in gateway/" if meta["dirty"] else ""),
        f"- machine: `{meta['uname']}`; {meta['nproc']} cores; {meta['memory']} memory; "
        f"Python {meta['python']}",
        f"- command: `{meta['command']}`" + (" (quick: shortened phases)" if results["quick"]
                                              else ""),
        f"- LiteLLM: {results['litellm']}",
        "- gateway, simulator and load generator share the machine; one worker each.", "",
        "## Targets", "",
        _table(["phase", "what", "measured", "target", "met?"], [
            [c["phase"], c["what"],
             _f(c["value"], 0 if isinstance(c["value"], int) else 2,
                f" {c['unit']}" if c["unit"] else ""),
             c["target"], _met(c["met"])] for c in results["checks"]
        ]), "",
    ]
    for name, (title, table) in SECTIONS.items():
        if name in results["phases"]:
            lines += [f"## {title}", "", table(results["phases"][name]), ""]
    return "\n".join(lines)


def write_results(path: Path, report: str) -> None:
    """Put `report` above the analysis marker of `path`, keeping what follows the marker."""
    old = path.read_text() if path.exists() else ""
    if MARKER in old:
        analysis = old[old.index(MARKER):]
    elif "## Analysis" in old:
        analysis = MARKER + "\n\n" + old[old.index("## Analysis"):]
    else:
        analysis = MARKER + "\n"
    path.write_text(report.rstrip() + "\n\n" + analysis)
