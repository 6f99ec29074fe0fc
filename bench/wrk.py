"""Closed-loop load with wrk: a Lua script that POSTs one small chat completion, and its parsing.

The script's `done()` hook prints one line `BENCH_JSON {...}` with exact latency percentiles
(microseconds), the request count, the run's duration and wrk's error counters, so nothing is
parsed from wrk's human-readable output.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

MARKER = "BENCH_JSON "

LUA = """\
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d}}\\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def chat_body(model: str) -> str:
    """A small non-streaming chat completion (the simulator answers 16 tokens at once)."""
    return json.dumps({
        "model": model,
        "messages": [{"role": "user", "content": "Say hello in a few words."}],
        "max_tokens": 16,
    })


def write_script(path: Path, model: str, key: str) -> Path:
    """Write the POST script for `model` and return its path."""
    path.write_text(LUA % {"body": chat_body(model), "key": key, "marker": MARKER})
    return path


def run(url: str, script: Path, connections: int, seconds: float, log: Path) -> dict[str, Any]:
    """Run `wrk -t1` against `url`; the parsed figures, with requests/s and total errors added.

    wrk's own output goes to `log` (appended); the run is bounded to its duration plus 30 s.
    """
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "5s",
            "-s", str(script), url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    with open(log, "a") as out:
        out.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}\n")
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    figures: dict[str, Any] = json.loads(line[len(MARKER):])
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["error_count"] = sum(figures["errors"].values())
    return figures
