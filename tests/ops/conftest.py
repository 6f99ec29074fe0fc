"""Fixtures for the operations tests: a gateway with known traffic, and headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ops.traffic import mixed_traffic, wait_for_ledger
from tests.servers import ServerProcess, gateway_config, start_gateway
from tests.services import unavailable

CHROMIUM = "/usr/bin/chromium"
# Flags that work on machines with no network beyond loopback (no background fetches).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ops_config(sim_url: str) -> dict[str, Any]:
    """The shared test config; the simulator's provider bills one token past an abort
    (`generated`) so cancelled streams have cancelled tokens to show."""
    config = gateway_config(sim_url)
    config["providers"][0]["cancel_billing"] = "generated"
    return config


@pytest.fixture(scope="module")
def busy_gateway(
    tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess
) -> Iterator[ServerProcess]:
    """A gateway of its own that has served `mixed_traffic` (all of it in the ledger)."""
    server = start_gateway(tmp_path_factory.mktemp("ops"), ops_config(sim.url))
    try:
        calls = mixed_traffic(server.url)
        wait_for_ledger(server.url, calls, cancelled=1)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (its own browser download does not work here)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("Playwright", "playwright", f"{exc} (pip install -e '.[test]')")
    path = shutil.which("chromium") or CHROMIUM
    if not Path(path).exists():
        unavailable("Chromium", CHROMIUM, "not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
