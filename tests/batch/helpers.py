"""Gateways and workers on the batch lane, a private Redis, a webhook receiver, and waits."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from tests.ledger.live import stored_ids, wait_until
from tests.servers import SIM_KEY, ServerProcess, free_port, gateway_config, start_gateway
from tests.services import unavailable

SIM_ARGS = (
    "--ttft-ms",
    "5",
    "--tokens-per-second",
    "2000",
    "--output-tokens",
    "8",
    "--batch-delay-ms",
    "300",
)
ADMIN = {"authorization": "Bearer admin-secret"}
HOOK_SECRET = "hook-secret-of-the-tests"
HOOK_PORT = free_port()  # the webhook receivers' port: allowed by its IP literal entry
TERMINAL = ("completed", "failed", "cancelled", "expired")
PRICE_IN, PRICE_OUT = 1.0, 2.0


def batch_config(
    sim_url: str, database_url: str, redis_url: str | None = None, **extra: Any
) -> dict[str, Any]:
    """`tests.servers.gateway_config` plus a native, an emulated and an Anthropic batch lane."""
    config = gateway_config(sim_url, database_url=database_url)
    native = {"batch": "native", "batch_max_items": 50, "batch_max_wait": "200ms"}
    for entry in config["providers"]:  # the simulator's Batch APIs (unset: emulated)
        if entry["name"] in ("sim", "sim-anthropic"):
            entry["batch"] = "native"
    config["providers"] += [
        {
            "name": "sim-batch",
            "kind": "openai",
            "base_url": f"{sim_url}/v1",
            "api_key": SIM_KEY,
            **native,
        },
        {
            "name": "sim-emulated",
            "kind": "openai",
            "base_url": f"{sim_url}/v1",
            "api_key": SIM_KEY,
            "batch": "emulated",
            "batch_concurrency": 2,
        },
        {
            "name": "sim-claude-batch",
            "kind": "anthropic",
            "base_url": sim_url,
            "api_key": SIM_KEY,
            **native,
        },
    ]
    price = {"input": PRICE_IN, "output": PRICE_OUT}
    config["models"] += [
        {
            "name": "native-gpt",
            "provider": "sim-batch",
            "upstream_model": "sim-gpt",
            "price": price,
            "batch_discount": 0.5,
        },
        {
            "name": "emu-gpt",
            "provider": "sim-emulated",
            "upstream_model": "sim-gpt",
            "price": price,
        },
        {
            "name": "native-claude",
            "provider": "sim-claude-batch",
            "upstream_model": "sim-claude",
            "price": {"input": 3.0, "output": 15.0},
        },
    ]
    config["providers"].append(
        {
            "name": "sim-slow",
            "kind": "openai",
            "base_url": f"{sim_url}/v1",
            "api_key": SIM_KEY,
            "batch": "native",
            "batch_max_items": 1000,
            "batch_max_wait": "1h",
        }
    )
    config["models"] += [  # `held-gpt` is the cancel test's own lane
        {"name": name, "provider": "sim-slow", "upstream_model": "sim-gpt"}
        for name in ("slow-gpt", "held-gpt")
    ]
    for provider in config["providers"]:  # lanes of the shared config flush quickly too
        provider.setdefault("batch_max_wait", "200ms")
    config["workloads"] += [{"name": "nightly", "keys": ["key-nightly"], "mode": "batch"}]
    config.update(
        batch_poll_interval="100ms",
        batch_poll_max="500ms",
        batch_lease="2s",
        batch_reconcile_interval="500ms",
        callback_allowed_hosts=[f"127.0.0.1:{HOOK_PORT}", f"localhost:{HOOK_PORT}"],
        callback_secret=HOOK_SECRET,
    )
    if redis_url:
        config["redis_url"] = redis_url
    config.update(extra)
    return config


def start_batch_gateway(tmp: Path, config: dict[str, Any], *extra: str) -> ServerProcess:
    with contextlib.chdir(tmp):  # a Postgres ledger's spool file lands in tmp
        return start_gateway(tmp, config, *extra)


def start_worker(tmp: Path, gateway: ServerProcess, name: str = "worker") -> ServerProcess:
    """`gateway worker` on the gateway's own config file, once it says it is ready."""
    config = tmp / f"gateway-{gateway.port}.yaml"
    worker = ServerProcess(
        ["worker", "--config", str(config)], 0, tmp / f"{name}-{time.time()}.log", cwd=tmp
    )
    wait_until(
        lambda: "batch worker ready" in worker.output() or worker.proc.poll() is not None,
        20,
        "the worker to start",
    )
    assert worker.proc.poll() is None, worker.output()
    return worker


def write_config(tmp: Path, name: str, config: dict[str, Any]) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(config))
    return path


def defer(
    gw: ServerProcess,
    model: str,
    text: str,
    key: str = "key-chat",
    headers: dict[str, str] | None = None,
) -> str:
    """A chat call sent with `X-Gateway-Mode: batch`; its id (from the 202)."""
    response = httpx.post(
        f"{gw.url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        headers={"authorization": f"Bearer {key}", "x-gateway-mode": "batch", **(headers or {})},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["object"] == "gateway.request" and body["status"] == "queued"
    assert response.headers["x-gateway-request-id"] == body["id"]
    return body["id"]


def record(gw: ServerProcess, call_id: str, headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    response = httpx.get(f"{gw.url}/v1/gateway/requests/{call_id}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_done(gw: ServerProcess, call_ids: Iterable[str], within: float = 30.0) -> dict[str, Any]:
    """Every call's record once all of them have ended."""
    pending = list(call_ids)
    done: dict[str, Any] = {}
    deadline = time.monotonic() + within
    while pending:
        for call_id in list(pending):
            found = record(gw, call_id)
            if found["status"] in TERMINAL:
                done[call_id] = found
                pending.remove(call_id)
        if pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} calls not finished: {pending[:3]}")
            time.sleep(0.1)
    return done


def sim_jobs(sim: ServerProcess) -> list[dict[str, Any]]:
    return httpx.get(f"{sim.url}/_sim/batches", timeout=5).json()["batches"]


def jobs_with(sim: ServerProcess, call_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The simulator's batch jobs that carried any of these calls."""
    wanted = set(call_ids)
    return [job for job in sim_jobs(sim) if wanted & set(job["custom_ids"])]


def sim_runs(sim: ServerProcess, call_ids: Iterable[str]) -> dict[str, int]:
    """How many synchronous requests the simulator saw for each call (by `x-request-id`)."""
    wanted = set(call_ids)
    counts = dict.fromkeys(wanted, 0)
    for item in httpx.get(f"{sim.url}/_sim/stats", timeout=5).json()["requests"]:
        if item["request_id"] in wanted:
            counts[item["request_id"]] += 1
    return counts


def ledger_count(database_url: str, call_ids: Iterable[str]) -> dict[str, int]:
    """How many ledger rows each call has, read from the database itself."""
    rows = stored_ids(database_url)
    return {call_id: rows.count(call_id) for call_id in call_ids}


class PrivateRedis:
    """A Redis of the test's own (no persistence), to stop and start at will."""

    def __init__(self, tmp: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            unavailable("Redis", "redis-server", "the redis-server binary is not installed")
        self.tmp = tmp
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        assert self.binary is not None
        log = open(self.tmp / f"redis-{self.port}.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self.answers, 10, "the private Redis to answer")

    def answers(self) -> bool:
        import redis

        try:
            client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
            client.ping()
            client.close()
            return True
        except redis.RedisError:
            return False

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Receiver:
    """A webhook receiver on loopback: answers each POST with the next status in `statuses`
    (200 once they run out) and keeps what it got (a 3xx points elsewhere)."""

    def __init__(self, statuses: Iterable[int] = (), port: int = 0) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.received.append(
                    ({k.lower(): v for k, v in self.headers.items()}, body, status)
                )
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", "http://127.0.0.1:9/elsewhere")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body, _ in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def provider(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The provider entry `name` of a config document (to change its batch settings)."""
    return next(p for p in config["providers"] if p["name"] == name)
