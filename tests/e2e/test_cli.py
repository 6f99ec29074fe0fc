"""The two README commands' behaviour: `gateway serve` with no config, `--help`, bad config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai

from tests.servers import ServerProcess, free_port


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, timeout=30, cwd=cwd)


def test_serve_with_no_config_serves_the_simulator_openly(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(["serve", "--port", str(port)], port, tmp_path / "serve.log",
                           cwd=tmp_path, clean_env=True)
    try:
        server.wait_ready("/readyz")
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="anything", max_retries=0)
        assert "sim-gpt" in {m.id for m in client.models.list()}
        reply = client.chat.completions.create(
            model="sim-gpt", messages=[{"role": "user", "content": "hi [sim ttft_ms=0 tps=0]"}])
        assert reply.choices[0].message.content
        chunks = list(client.chat.completions.create(
            model="sim-gpt", stream=True,
            messages=[{"role": "user", "content": "hi [sim ttft_ms=0 tps=0]"}]))
        assert any(c.choices and c.choices[0].delta.content for c in chunks)
    finally:
        server.stop()
    log = server.output()
    assert "serving the built-in simulator" in log
    assert f"http://127.0.0.1:{port}" in log


def test_help_explains_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "sim"):
        assert command in result.stdout
    serve = run_cli("serve", "--help")
    assert "--config" in serve.stdout and "--port" in serve.stdout
    sim = run_cli("sim", "--help")
    assert "--tokens-per-second" in sim.stdout and "--ttft-ms" in sim.stdout


def test_bad_config_fails_at_start_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("providers:\n  - name: p\n    kind: nonsense\n    base_url: http://x\n")
    result = run_cli("serve", "--config", str(config), "--port", str(free_port()))
    assert result.returncode != 0
    assert "providers[0].kind" in result.stderr
    assert "Traceback" not in result.stderr
