"""`gateway bench`: a gateway it starts itself, or a running one, and the table it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.routing.conftest import KEY
from tests.servers import SIM_KEY


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "bench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=90)


def table(output: str) -> dict[str, dict[str, str]]:
    """The printed table's rows by model (columns split on runs of two spaces)."""
    lines = output.strip().splitlines()
    header = [cell.strip() for cell in lines[0].split("  ") if cell.strip()]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.split("  ") if cell.strip()]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def check(row: dict[str, str], calls: int) -> None:
    assert (row["calls"], row["errors"]) == (str(calls), "0")
    assert 0 < float(row["ttft p50 ms"]) <= float(row["ttft p95 ms"])
    assert float(row["tok/s p50"]) > 0
    assert float(row["abort: closed after ms"]) >= 0
    # it stopped long before its 200 tokens (how soon depends on the machine's load: bench/)
    assert int(row["tokens after close"]) < 20 and row["stops on abort"] == "yes"


@pytest.mark.timeout(90)
def test_bench_starts_a_gateway_from_the_config(tmp_path: Path, sim) -> None:
    config: dict[str, Any] = {
        "admin_key": "bench-admin",
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/bench.db",
        "providers": [
            {"name": "sim", "kind": "openai", "base_url": f"{sim.url}/v1", "api_key": SIM_KEY},
            {"name": "sim-anthropic", "kind": "anthropic", "base_url": sim.url,
             "api_key": SIM_KEY},
        ],
        "models": [{"name": "chat", "provider": "sim", "upstream_model": "sim-gpt"},
                   {"name": "claude", "provider": "sim-anthropic"}],
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    done = bench("chat", "claude", "--config", str(path), "-n", "4", "--concurrency", "2",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = table(done.stdout)
    assert set(rows) == {"chat", "claude"}
    for row in rows.values():
        check(row, 4)
    assert "started a gateway at http://127.0.0.1:" in done.stderr
    assert "chat: 4/4 streams" in done.stderr  # the progress, one line off a terminal


def test_bench_measures_through_a_running_gateway(routed, tmp_session: Path) -> None:
    config = tmp_session / f"gateway-{routed.port}.yaml"
    done = bench("r-weighted", "--url", routed.url, "--config", str(config), "--key", KEY,
                 "-n", "3", cwd=tmp_session)
    assert done.returncode == 0, done.stderr
    check(table(done.stdout)["r-weighted"], 3)


def test_bench_refuses_a_model_not_configured(tmp_path: Path, routed, tmp_session) -> None:
    config = tmp_session / f"gateway-{routed.port}.yaml"
    done = bench("nope", "--url", routed.url, "--config", str(config), cwd=tmp_path)
    assert done.returncode != 0 and "not configured: nope" in done.stderr
