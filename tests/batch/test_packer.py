"""The packer: a job at `batch_max_items`, or when the oldest call has waited `batch_max_wait`."""

from __future__ import annotations

from gateway.batch.packer import Held, Packer
from gateway.batch.queue import Entry

LANE = ("sim", "gpt-test")
OTHER = ("sim", "other")


def held(call_id: str, queued_at: float, group: str = "chat", lane=LANE) -> Held:
    return Held(Entry(lane, call_id, call_id), group, queued_at)


def packer(max_items: int = 3, max_wait: float = 10.0) -> Packer:
    return Packer(lambda lane: (max_items, max_wait))


def ids(jobs: list[list[Held]]) -> list[list[str]]:
    return [[h.call_id for h in job] for job in jobs]


def test_nothing_is_due_before_the_limits() -> None:
    p = packer()
    p.add(held("a", 100.0))
    p.add(held("b", 101.0))
    assert p.due(105.0) == []
    assert len(p) == 2


def test_a_full_job_leaves_at_once_oldest_first() -> None:
    p = packer(max_items=3)
    for name, at in (("c", 3.0), ("a", 1.0), ("d", 4.0), ("b", 2.0)):
        p.add(held(name, at))
    assert ids(p.due(5.0)) == [["a", "b", "c"]]
    assert [e.call_id for e in p.entries()] == ["d"]


def test_the_oldest_call_waiting_max_wait_sends_what_is_held() -> None:
    p = packer(max_items=10, max_wait=10.0)
    p.add(held("a", 100.0))
    p.add(held("b", 108.0))
    assert p.due(109.9) == []
    assert ids(p.due(110.0)) == [["a", "b"]]
    assert len(p) == 0


def test_many_calls_make_several_full_jobs_and_keep_the_rest() -> None:
    p = packer(max_items=2, max_wait=60.0)
    for i in range(5):
        p.add(held(f"c{i}", float(i)))
    assert ids(p.due(10.0)) == [["c0", "c1"], ["c2", "c3"]]
    assert [e.call_id for e in p.entries()] == ["c4"]


def test_lanes_and_upstream_routes_never_share_a_job() -> None:
    p = packer(max_items=2)
    p.add(held("chat1", 1.0))
    p.add(held("emb1", 1.0, group="embeddings"))
    p.add(held("other1", 1.0, lane=OTHER))
    p.add(held("chat2", 2.0))
    assert ids(p.due(3.0)) == [["chat1", "chat2"]]
    assert sorted(e.call_id for e in p.entries()) == ["emb1", "other1"]


def test_a_duplicate_entry_is_refused() -> None:
    p = packer()
    assert p.add(held("a", 1.0)) is True
    assert p.add(held("a", 2.0)) is False
    assert len(p) == 1


def test_a_job_put_back_waits_until_its_retry_time() -> None:
    p = packer(max_items=2, max_wait=1.0)
    p.add(held("a", 1.0))
    p.add(held("b", 1.0))
    job = p.due(2.0)[0]
    p.put_back(job, retry_at=50.0)
    assert p.due(49.0) == []
    assert ids(p.due(50.0)) == [["a", "b"]]
