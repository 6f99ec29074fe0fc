"""DisconnectWatch with a scripted ASGI `receive`: abort, drain, and normal completion."""

from __future__ import annotations

import asyncio

import pytest

from gateway.streaming.disconnect import ClientGone, DisconnectWatch


def scripted_receive(leave: asyncio.Event):
    async def receive() -> dict:
        await leave.wait()
        return {"type": "http.disconnect"}

    return receive


async def test_client_leaving_cancels_the_work() -> None:
    leave = asyncio.Event()
    cleaned = asyncio.Event()
    gone_seen: list[bool] = []

    async def work() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.set()  # where the relay closes the upstream connection

    watch = DisconnectWatch(scripted_receive(leave), on_gone=lambda: gone_seen.append(True))
    asyncio.get_running_loop().call_later(0.01, leave.set)
    with pytest.raises(ClientGone) as info:
        await watch.run(work())
    assert cleaned.is_set() and gone_seen == [True]
    assert info.value.abort_seconds is not None and info.value.abort_seconds < 1
    assert not info.value.drained


async def test_work_that_finishes_first_returns_its_result() -> None:
    watch = DisconnectWatch(scripted_receive(asyncio.Event()))

    async def work() -> int:
        return 42

    assert await watch.run(work()) == 42
    watch.stop()


async def test_drain_lets_the_work_finish_then_reports_the_client_gone() -> None:
    leave = asyncio.Event()
    finished = asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0.05)
        finished.set()

    watch = DisconnectWatch(scripted_receive(leave))
    leave.set()
    with pytest.raises(ClientGone) as info:
        await watch.run(work(), drain=lambda: 5.0)
    assert finished.is_set() and info.value.drained and info.value.abort_seconds is None


async def test_drain_time_limit_cancels_the_work() -> None:
    leave = asyncio.Event()
    leave.set()

    async def work() -> None:
        await asyncio.sleep(30)

    watch = DisconnectWatch(scripted_receive(leave))
    with pytest.raises(ClientGone) as info:
        await watch.run(work(), drain=lambda: 0.05)
    assert not info.value.drained


async def test_disabled_watch_never_aborts() -> None:
    leave = asyncio.Event()
    leave.set()

    async def work() -> str:
        await asyncio.sleep(0.02)
        return "done"

    watch = DisconnectWatch(scripted_receive(leave), enabled=False)
    assert await watch.run(work()) == "done"
    watch.stop()


async def test_a_finished_call_leaves_no_reference_cycle_for_the_collector() -> None:
    """The watcher ends when the server reports the response complete (uvicorn answers the
    pending `receive` with `http.disconnect`); it is not cancelled, because a CancelledError's
    traceback tied every call's objects into a cycle only a full collection freed."""
    import gc

    complete = asyncio.Event()  # the server's "response complete"

    async def call_once() -> None:
        watch = DisconnectWatch(scripted_receive(complete))

        async def work() -> int:
            return 1

        await asyncio.ensure_future(watch.run(work()))
        watch.stop()
        complete.set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert watch._task.done() and not watch._task.cancelled()

    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            complete.clear()
            await call_once()
        assert gc.collect() == 0
    finally:
        gc.enable()
