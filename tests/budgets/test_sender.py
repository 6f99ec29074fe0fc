"""The limiter's sender: releases and bills queued while a chunk is on its way are sent too,
and a chunk the store refused is sent again (unit: a store that holds each step open)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.budgets.limiter import Limiter
from gateway.budgets.memory import MemoryStore
from gateway.budgets.terms import Bill
from gateway.config import build_settings
from tests.servers import gateway_config

pytestmark = pytest.mark.timeout(10)


class HeldStore(MemoryStore):
    """Records what it is sent; each step waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.released: list[str] = []
        self.settled: list[str] = []
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.fail_next = False

    async def _step(self) -> None:
        self.entered.set()
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("store down")

    async def release(self, ids: list[str]) -> None:
        await self._step()
        self.released += ids

    async def settle(self, bills: list[Bill]) -> None:
        await self._step()
        self.settled += [bill.id for bill in bills]


def limiter(store: HeldStore) -> Limiter:
    return Limiter(build_settings(gateway_config("http://127.0.0.1:9"), {}), store)


def bill(call_id: str) -> Bill:
    return Bill(call_id, ("w:chat",), 1000, 10, "2026-12-01", "2026-12")


async def test_a_bill_queued_while_a_chunk_is_sent_is_sent_too() -> None:
    store = HeldStore()
    limits = limiter(store)
    limits._bills.append(bill("a"))
    flushing = asyncio.create_task(limits._flush())
    await store.entered.wait()  # "a" is on its way
    limits._bills.append(bill("b"))  # a call costed meanwhile
    store.gate.set()
    await flushing
    assert store.settled == ["a", "b"]
    assert limits._bills == []


async def test_releases_taken_by_an_admission_meanwhile_are_not_lost() -> None:
    store = HeldStore()
    limits = limiter(store)
    limits._releases += ["a", "b"]
    flushing = asyncio.create_task(limits._flush())
    await store.entered.wait()
    limits._releases += ["c", "d"]
    assert limits._take_releases() == ("c", "d")  # an admission carries these itself
    limits._releases.append("e")
    store.gate.set()
    await flushing
    assert store.released == ["a", "b", "e"]


async def test_a_chunk_the_store_refused_goes_back_to_the_front() -> None:
    store = HeldStore()
    limits = limiter(store)
    limits._bills += [bill("a"), bill("b")]
    store.fail_next = True
    flushing = asyncio.create_task(limits._flush())
    await store.entered.wait()
    limits._bills.append(bill("c"))
    store.gate.set()
    with pytest.raises(ConnectionError):
        await flushing
    assert [b.id for b in limits._bills] == ["a", "b", "c"]
    await limits._flush()
    assert store.settled == ["a", "b", "c"]

