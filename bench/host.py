"""The machine the benchmark runs on: what it is, and how busy everything else keeps it."""

from __future__ import annotations

import os
import resource
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from procs import Server, descendants

_TICK = os.sysconf("SC_CLK_TCK")
BENCH = Path(__file__).resolve().parent


def describe(argv: list[str]) -> dict[str, Any]:
    """Date, machine and command of this run, for the report's header."""
    mem_kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "uname": _output(["uname", "-a"]),
        "nproc": _output(["nproc"]),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "python": sys.version.split()[0],
        "command": shlex.join(["python", "bench/run.py", *argv]),
        "commit": _output(["git", "-C", str(BENCH), "rev-parse", "--short", "HEAD"]),
        "dirty": bool(_output(["git", "-C", str(BENCH.parent), "status", "--porcelain",
                               "gateway"])),
    }


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()


class CpuWatch:
    """CPU used over a span by the machine, by the benchmark's own processes, and by the rest.

    Other work on the machine (another test suite, a build) skews every figure; this says how
    much there was. Ours: the servers (read from /proc), this process and its reaped children
    (wrk, the stream clients).
    """

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        with open("/proc/stat") as stat:
            user, nice, system, _, _, irq, softirq = map(int, stat.readline().split()[1:8])
        own = sum(_cpu_seconds(pid) for s in self.servers for pid in [s.pid, *descendants(s.pid)])
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            own += usage.ru_utime + usage.ru_stime
        return time.monotonic(), (user + nice + system) / _TICK, (irq + softirq) / _TICK, own

    def result(self) -> dict[str, float]:
        """Percent of one core used since creation by our processes, by all others, and by
        interrupts (mostly the loopback traffic of the benchmark itself, in softirq).
        """
        (t0, busy0, irq0, own0), (t1, busy1, irq1, own1) = self._start, self._sample()
        wall = t1 - t0
        return {"seconds": wall, "bench_core_percent": 100 * (own1 - own0) / wall,
                "other_core_percent": max(0.0, 100 * ((busy1 - busy0) - (own1 - own0)) / wall),
                "irq_core_percent": 100 * (irq1 - irq0) / wall}


def wait_quiet(limit_s: float, busy_percent: float = 20.0) -> float:
    """Wait (at most `limit_s`) until the machine's CPU use over 2 s falls below `busy_percent`
    of one core; return the last reading. Other work on the machine skews every figure.
    """
    deadline = time.monotonic() + limit_s
    while True:
        watch = CpuWatch([])
        time.sleep(2.0)
        busy = watch.result()["other_core_percent"]
        if busy < busy_percent or time.monotonic() >= deadline:
            return busy


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK
