"""A finished call leaves nothing for the garbage collector: its objects are freed by their
reference counts the moment it ends.

Objects caught in a reference cycle live until a collection finds them. Each call's plan held
its routing generator, whose frame held the plan; a plan that lived through a young
collection (most did, at 3,500 calls/s) was then freed only by a full one, so hundreds of
plans with their attempts, requests and replies piled up, and every young collection walked
them again. The gateway runs in-process here, on the real simulator, so that its objects can
be counted.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.config import build_settings
from tests.inprocess import InProcessApp
from tests.servers import ServerProcess, gateway_config

pytestmark = pytest.mark.timeout(60)

KEY = {"authorization": "Bearer key-chat"}
CALLS = [
    ("/v1/chat/completions", {"model": "gpt-test", "messages": [
        {"role": "user", "content": "hello"}]}),
    ("/v1/chat/completions", {"model": "gpt-test", "stream": True, "messages": [
        {"role": "user", "content": "hello"}]}),
    ("/v1/messages", {"model": "claude-test", "max_tokens": 16, "messages": [
        {"role": "user", "content": "hello"}]}),
    ("/v1/messages", {"model": "claude-test", "max_tokens": 16, "stream": True, "messages": [
        {"role": "user", "content": "hello"}]}),
    ("/v1/chat/completions", {"model": "claude-test", "messages": [  # translated
        {"role": "user", "content": "hello"}]}),
    ("/v1/embeddings", {"model": "embed-test", "input": "hello"}),
]


@pytest.fixture(scope="module")
def served(sim: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessApp]:
    tmp: Path = tmp_path_factory.mktemp("garbage")
    settings = build_settings(gateway_config(
        sim.url, database_url=f"sqlite+aiosqlite:///{tmp}/ledger.db"), {})
    app = InProcessApp(create_app(settings)).start()
    try:
        yield app
    finally:
        app.stop()


def census() -> Counter[str]:
    """How many objects of each of the gateway's own classes are alive."""
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
                   if type(o).__module__.startswith("gateway"))


def left_alive(served: InProcessApp, path: str, body: dict, calls: int) -> dict[str, int]:
    """The gateway's classes with `calls` or more more objects alive after `calls` calls than
    before them, with the collector off: what only a collection would free."""
    for _ in range(3):  # warm: first-call caches, pools and lazy imports
        assert served.request("POST", path, json=body, headers=KEY).status_code == 200
    time.sleep(0.3)  # the ledger's writer takes the warm-up calls
    gc.collect()
    gc.disable()
    try:
        before = census()
        for _ in range(calls):
            assert served.request("POST", path, json=body, headers=KEY).status_code == 200
        time.sleep(0.3)  # ... and these
        after = census()
    finally:
        gc.enable()
    return {kind: after[kind] - before[kind] for kind in after
            if after[kind] - before[kind] >= calls}


@pytest.mark.parametrize(("path", "body"), CALLS,
                         ids=[f"{p}-{b['model']}-{'stream' if b.get('stream') else 'unary'}"
                              for p, b in CALLS])
def test_a_finished_call_leaves_no_cycle_for_the_collector(
    served: InProcessApp, path: str, body: dict
) -> None:
    assert left_alive(served, path, body, calls=10) == {}
