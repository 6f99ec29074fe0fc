"""What `gateway bench` leans on: the gateway it starts, the simulator upstreams it can ask,
a plain progress bar, and percentiles."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx

from gateway.config import Settings


@contextmanager
def started_gateway(config: str | None, url: str | None) -> Iterator[tuple[str, int | None]]:
    """(the gateway's URL, the port of the one started here or None for `url`)."""
    if url:
        yield url.rstrip("/"), None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--no-worker", *(["--config", config] if config else [])]  # fmt: skip
    log = tempfile.NamedTemporaryFile(prefix="gateway-bench-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, base, log.name)
        print(f"started a gateway at {base} (log {log.name})", file=sys.stderr)
        yield base, port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        log.close()
    os.unlink(log.name)  # kept only when something went wrong


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
        process.wait(timeout=5)
    raise RuntimeError(f"the gateway did not start; its log is {log}")


class Simulators:
    """The stats endpoints of the simulators behind each model (by asking `/_sim/stats`).

    Only these get a `[sim ...]` directive in the prompt; no gateway key is sent to them."""

    def __init__(self, roots: dict[str, list[str]]) -> None:
        self.roots = roots  # model -> simulator roots

    @classmethod
    async def find(cls, settings: Settings | None, models: list[str]) -> Simulators:
        roots: dict[str, list[str]] = {}
        if settings is None:
            return cls(roots)
        probed: dict[str, bool] = {}
        async with httpx.AsyncClient(timeout=2) as upstream:
            for name in models:
                model = settings.model(name)
                for deployment in model.deployments if model is not None else ():
                    root = _root(settings.provider(deployment.provider).base_url)
                    if root not in probed:
                        probed[root] = await _answers_stats(upstream, root)
                    if probed[root] and root not in roots.get(name, []):
                        roots.setdefault(name, []).append(root)
        return cls(roots)

    def directive(self, model: str, tag: str, extra: str = "") -> str:
        return f" [sim tag={tag} {extra}]" if model in self.roots else ""

    async def after_close(
        self, model: str, tag: str, closed: float
    ) -> tuple[int | None, str | None]:
        """(tokens the simulator sent after wall-clock `closed`, whether it stopped before its
        end), once it noted the close; (None, None) when the upstream is not a simulator."""
        if model not in self.roots:
            return None, None
        async with httpx.AsyncClient(timeout=5) as upstream:
            for _ in range(40):
                for root in self.roots[model]:
                    response = await upstream.get(root + "/_sim/stats", params={"tag": tag})
                    for record in response.json().get("requests", ()):
                        if record["closed_at"] is None and not record["completed"]:
                            continue  # the close has not reached it yet
                        after = sum(1 for moment in record["token_times"] if moment > closed)
                        if record["completed"]:  # it ran to its end: after the close?
                            return after, "no" if after > 1 else "finished first"
                        return after, "yes"
                await asyncio.sleep(0.05)
        return None, "no close seen"


async def _answers_stats(upstream: httpx.AsyncClient, root: str) -> bool:
    try:
        response = await upstream.get(root + "/_sim/stats", params={"tag": "gateway-bench"})
        return response.status_code == 200 and "requests" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


def _root(base_url: str) -> str:
    for suffix in ("/v1beta", "/v1"):
        if base_url.endswith(suffix):
            return base_url[: -len(suffix)]
    return base_url


class Progress:
    """`model [#####.....] 12/20` redrawn in place on a terminal; one line at the end otherwise."""

    WIDTH = 30

    def __init__(self, label: str, total: int, out: IO[str] | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.out = out or sys.stderr
        self.live = self.out.isatty()
        self._draw()

    def step(self) -> None:
        self.done += 1
        self._draw()

    def close(self) -> None:
        if self.live:
            self.out.write("\n")
        else:
            self.out.write(f"{self.label}: {self.done}/{self.total} streams\n")
        self.out.flush()

    def _draw(self) -> None:
        if self.live:
            filled = self.WIDTH * self.done // self.total
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.out.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
            self.out.flush()


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank `q` quantile of `values` (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
