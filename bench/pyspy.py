"""Optional profile of the gateway under load with py-spy: where its CPU time goes.

py-spy samples the gateway's Python stacks while a load runs; the collapsed stacks are kept in
`<out>/gateway-profile.txt` (loadable in speedscope or flamegraph.pl) and summarized as the
functions with the most own time (the innermost frame of each sample) and the gateway's own
functions with the most inclusive time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

_LINE = re.compile(r":\d+\)$")


def record(pid: int, out: Path, load: Callable[[], dict[str, Any]],
           seconds: float = 10.0) -> dict[str, Any]:
    """Run `load()` while py-spy samples `pid`; the load's figures and the top own-time frames."""
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists() and shutil.which("py-spy") is None:
        return {"skipped": "py-spy not installed"}
    path = out / "gateway-profile.txt"
    argv = [str(exe if exe.exists() else "py-spy"), "record", "--pid", str(pid),
            "--duration", f"{seconds:.0f}", "--rate", "200", "--format", "raw",
            "--output", str(path)]
    with open(out / "py-spy.log", "wb") as log:
        spy = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            figures = load()
            spy.wait(timeout=seconds + 30)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait(timeout=5)
    if not path.exists():
        return {"skipped": f"py-spy wrote no profile (see {out / 'py-spy.log'})", "load": figures}
    return {"load": figures, "file": str(path), **summarize(path.read_text())}


def summarize(collapsed: str, top: int = 25) -> dict[str, Any]:
    """Own and (for gateway/ code) inclusive time per function, from collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        own[frames[-1]] += int(count)
        for frame in set(frames):
            if "gateway/" in frame and "/sim/" not in frame:
                inclusive[frame] += int(count)
        total += int(count)

    def rows(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": name, "samples": n, "percent": 100 * n / total}
                for name, n in counter.most_common(top)]

    if not total:
        return {"samples": 0, "top_own": [], "top_gateway_inclusive": []}
    return {"samples": total, "top_own": rows(own), "top_gateway_inclusive": rows(inclusive)}
