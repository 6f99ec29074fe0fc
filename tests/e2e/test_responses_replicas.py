"""Stored responses shared by two gateway processes on one Postgres database: a
`previous_response_id` chain continues on the other replica, a background response is
cancelled through the other replica, and one whose process died is shown failed."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.servers import ServerProcess, start_gateway

from .responses_helpers import NATIVE, responses_config
from .test_responses import sim_tokens, wait_for
from .vendors import closed_record, ledger_record, new_tag, say


@pytest.fixture(scope="module")
def replicas(tmp_session: Path, sim: ServerProcess, postgres) -> Iterator[list[ServerProcess]]:
    url = postgres.new()
    started = [start_gateway(tmp_session, responses_config(sim.url, database_url=url))
               for _ in range(2)]
    yield started
    for server in started:
        server.stop()


def client_of(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="key-chat", max_retries=0,
                         timeout=10)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("model", [NATIVE, "gemini-test"])
def test_chain_continues_on_another_replica(replicas: list[ServerProcess], model: str) -> None:
    a, b = (client_of(server) for server in replicas)
    first = a.responses.create(model=model, input="one two three")
    second = b.responses.create(model=model, previous_response_id=first.id, input="four")
    assert second.usage.input_tokens == 3 + 12 + 1
    third = a.responses.create(model=model, previous_response_id=second.id, input="five")
    assert third.usage.input_tokens == 3 + 12 + 1 + 12 + 1
    assert b.responses.retrieve(third.id).output_text == third.output_text


@pytest.mark.timeout(90)
def test_cancel_through_another_replica(replicas: list[ServerProcess], sim) -> None:
    a, b = (client_of(server) for server in replicas)
    tag = new_tag()
    raw = a.responses.with_raw_response.create(
        model="gpt-test", background=True, input=say(tag, "tps=20 tokens=200")
    )
    queued = raw.parse()
    wait_for(lambda: sim_tokens(sim, tag) >= 2)
    assert b.responses.cancel(queued.id).status == "cancelled"
    assert closed_record(sim, tag)["completed"] is False
    row = ledger_record(replicas[1], raw.headers["x-gateway-request-id"])
    assert (row["status"], row["cancel_reason"]) == ("cancelled", "explicit")


@pytest.mark.timeout(90)
def test_background_of_a_dead_process_is_shown_failed(
    tmp_session: Path, sim: ServerProcess, postgres, replicas: list[ServerProcess]
) -> None:
    url = postgres.new()
    doomed = start_gateway(tmp_session, responses_config(sim.url, database_url=url))
    tag = new_tag()
    queued = client_of(doomed).responses.create(
        model=NATIVE, background=True, input=say(tag, "tps=10 tokens=200")
    )
    wait_for(lambda: sim_tokens(sim, tag) >= 1)
    doomed.proc.send_signal(signal.SIGKILL)
    doomed.proc.wait(timeout=10)
    doomed.stop()
    restarted = start_gateway(tmp_session, responses_config(sim.url, database_url=url))
    try:
        time.sleep(1.6)  # the lease (batch_lease: 1.5s) lapses
        shown = client_of(restarted).responses.retrieve(queued.id)
        assert shown.status == "failed" and "stopped" in shown.error.message
    finally:
        restarted.stop()
