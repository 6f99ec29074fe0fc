"""Start the simulator and the gateway as real processes on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

SIM_KEY = "sim-upstream-secret-key"


# A port bound for the whole session and never listened on: connecting is refused, and no
# server a test starts later can take it (a port merely free when the config was written
# could be, and then "dead" answered).
_DEAD = socket.socket()
_DEAD.bind(("127.0.0.1", 0))
DEAD_PORT = _DEAD.getsockname()[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A child process serving HTTP; stopped by its pid when the test session ends."""

    def __init__(self, args: list[str], port: int, log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None, clean_env: bool = False):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        base = {k: v for k, v in os.environ.items() if not clean_env or not _credential(k)}
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", *args], stdout=self._log_file,
            stderr=subprocess.STDOUT, env={**base, **(env or {})}, cwd=cwd,
        )

    def wait_ready(self, path: str = "/healthz", timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not become ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log_file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _credential(name: str) -> bool:
    return name.startswith("GATEWAY_") or name in (
        "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")


def start_sim(tmp: Path, *extra: str) -> ServerProcess:
    port = free_port()
    server = ServerProcess(
        ["sim", "--port", str(port), "--require-key", SIM_KEY, *extra], port,
        tmp / f"sim-{port}.log",
    )
    server.wait_ready()
    return server


def gateway_config(sim_url: str, **extra: Any) -> dict[str, Any]:
    """A config with the simulator as an OpenAI-kind provider and two keyed workloads."""
    config: dict[str, Any] = {
        "admin_key": "admin-secret",
        "max_body_bytes": 65536,
        "providers": [
            {"name": "sim", "kind": "openai", "base_url": f"{sim_url}/v1", "api_key": SIM_KEY,
             "read_timeout": "3s"},
            {"name": "wrong-key", "kind": "openai", "base_url": f"{sim_url}/v1",
             "api_key": "sk-wrong-upstream-key"},
            {"name": "dead", "kind": "openai", "base_url": f"http://127.0.0.1:{DEAD_PORT}/v1",
             "api_key": "x", "connect_timeout": "2s"},
            {"name": "sim-anthropic", "kind": "anthropic", "base_url": sim_url,
             "api_key": SIM_KEY, "read_timeout": "3s"},
            {"name": "sim-gemini", "kind": "gemini", "base_url": sim_url, "api_key": SIM_KEY,
             "read_timeout": "3s"},
        ],
        "models": [
            {"name": "gpt-test", "provider": "sim", "upstream_model": "sim-gpt",
             "price": {"input": 1.0, "output": 2.0}},
            {"name": "embed-test", "provider": "sim", "upstream_model": "sim-embed",
             "price": {"input": 0.1, "output": 0}},
            {"name": "dead-model", "provider": "dead"},
            {"name": "wrong-key-model", "provider": "wrong-key", "upstream_model": "sim-gpt"},
            {"name": "claude-test", "provider": "sim-anthropic", "upstream_model": "sim-claude",
             "price": {"input": 3.0, "output": 15.0}},
            {"name": "gemini-test", "provider": "sim-gemini", "upstream_model": "sim-gemini",
             "price": {"input": 0.3, "output": 2.5}},
        ],
        "workloads": [
            {"name": "chat-ui", "keys": ["key-chat"]},
            {"name": "etl", "keys": ["key-etl"], "mode": "auto"},
            {"name": "drainer", "keys": ["key-drain"], "on_cancel": "drain"},
        ],
    }
    config.update(extra)
    return config


def start_gateway(tmp: Path, config: dict[str, Any], *extra: str,
                  env: dict[str, str] | None = None) -> ServerProcess:
    port = free_port()
    path = tmp / f"gateway-{port}.yaml"
    config.setdefault("database_url", f"sqlite+aiosqlite:///{tmp}/gateway-{port}.db")
    path.write_text(yaml.safe_dump(config))
    server = ServerProcess(
        ["serve", "--config", str(path), "--port", str(port), *extra], port,
        tmp / f"gateway-{port}.log", env,
    )
    server.wait_ready("/readyz")
    return server
