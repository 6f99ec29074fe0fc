"""Child processes of the benchmark: servers (start, wait until ready, stop by pid, RSS), their
configs, and the client scripts.

Every server is started with its soft file-descriptor limit raised to the hard limit (hundreds
of open streams need more than the usual 1,024) and its output going to a log file.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import limits
import yaml


def run_json(argv: list[str], timeout: float, log: Path) -> dict[str, Any]:
    """Run a client script to its end; the JSON object on its last output line."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    with open(log, "a") as out:
        out.write(f"$ {shlex.join(argv)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"{argv[1]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_fd_limit() -> None:
    """Lift this process's soft RLIMIT_NOFILE to its hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """One HTTP server child process, logging to a file; `stop()` ends it by its pid."""

    def __init__(
        self, name: str, argv: list[str], port: int, log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=raise_fd_limit, env=None if env is None else {**os.environ, **env},
        )
        self.pid = self.proc.pid

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        """Poll `path` until it answers 200; stop the server and raise if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_tail()}")

    def rss_mb(self) -> float:
        """Resident memory of the process and all its descendants, in MB."""
        return sum(_vm_rss_kb(pid) for pid in [self.pid, *descendants(self.pid)]) / 1024

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; always closes the log file."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        finally:
            self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def write_configs(out: Path, sim_url: str, key: str) -> tuple[Path, Path]:
    """The gateway's config and LiteLLM's, both with the simulator as the only upstream."""
    gateway = gateway_config(f"sqlite+aiosqlite:///{out.resolve()}/bench.db", sim_url, key)
    litellm = {
        "model_list": [{"model_name": "bench-model", "litellm_params": {
            "model": "openai/sim-gpt", "api_base": f"{sim_url}/v1", "api_key": "sk-sim-upstream",
        }}],
        "general_settings": {"master_key": key},
    }
    paths = out / "gateway.yaml", out / "litellm.yaml"
    paths[0].write_text(yaml.safe_dump(gateway, sort_keys=False))
    paths[1].write_text(yaml.safe_dump(litellm, sort_keys=False))
    return paths


def write_gateway_config(path: Path, database_url: str, sim_url: str, key: str) -> Path:
    """Another gateway's config: the same providers and models, another ledger database."""
    path.write_text(yaml.safe_dump(gateway_config(database_url, sim_url, key), sort_keys=False))
    return path


def gateway_config(database_url: str, sim_url: str, key: str) -> dict[str, Any]:
    return {
        "database_url": database_url,
        # enough upstream connections for the memory phase's 5,000 open streams
        "providers": [{"name": "sim", "kind": "openai", "base_url": f"{sim_url}/v1",
                       "api_key": "sk-sim-upstream", "max_connections": 10000},
                      {"name": "sim-anthropic", "kind": "anthropic", "base_url": sim_url,
                       "api_key": "sk-sim-upstream"},
                      {"name": "sim-b", "kind": "openai", "base_url": f"{sim_url}/v1",
                       "api_key": "sk-sim-upstream"}],
        "models": [{"name": "bench-model", "provider": "sim", "upstream_model": "sim-gpt",
                    "price": {"input": 0.15, "output": 0.6}},
                   # the `routing` phase: the same upstream as two deployments
                   {"name": "bench-routed", "price": {"input": 0.15, "output": 0.6},
                    "deployments": [{"provider": "sim", "upstream_model": "sim-gpt"},
                                    {"provider": "sim-b", "upstream_model": "sim-gpt"}]},
                   {"name": "bench-claude", "provider": "sim-anthropic",
                    "upstream_model": "sim-claude", "price": {"input": 1.0, "output": 5.0}}],
        "workloads": [{"name": "bench", "keys": [key]}, limits.WORKLOAD],
    }


def start_sim(log_dir: Path) -> Server:
    """The simulator: no waiting and 16 tokens at once unless a request's directive says so."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway", "sim", "--port", str(port), "--ttft-ms", "0",
            "--tokens-per-second", "0", "--output-tokens", "16"]
    server = Server("sim", argv, port, log_dir)
    server.wait_ready("/healthz")
    return server


def start_gateway(config: Path, log_dir: Path, name: str = "gateway") -> Server:
    """`gateway serve` with one worker on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway", "serve", "--config", str(config),
            "--port", str(port), "--workers", "1"]
    server = Server(name, argv, port, log_dir)
    server.wait_ready("/readyz")
    return server


def litellm_executable(given: str | None) -> str | None:
    """LiteLLM's proxy command: `--litellm`, else one installed beside this Python or on
    PATH (it may live in a venv of its own: its dependencies are not the gateway's)."""
    if given:
        return given
    beside = Path(sys.executable).parent / "litellm"
    return str(beside) if beside.exists() else shutil.which("litellm")


def start_litellm(exe: str, config: Path, log_dir: Path) -> Server:
    """The LiteLLM proxy, for the optional comparison."""
    port = free_port()
    argv = [exe, "--config", str(config), "--port", str(port), "--num_workers", "1"]
    # its bundled price table: no network here (it would retry a download at every start)
    server = Server("litellm", argv, port, log_dir, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    server.wait_ready("/health/liveliness", timeout=120.0)
    return server


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _vm_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
