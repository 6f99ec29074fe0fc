"""The batch clock without sleeping: phases, answered items, cancel and expiry at chosen times."""

from __future__ import annotations

from gateway.sim.batch_job import BatchJob, ItemResult, ended_at, request_counts, status_of
from gateway.sim.errors import INJECTED

T0 = 1_000_000.0


def job(count: int = 10, delay: float = 1.0, api: str = "openai", **options: object) -> BatchJob:
    results = [ItemResult(f"r{i}", 200, b"{}", f"req_{i}") for i in range(count)]
    if count > 1:
        results[1] = ItemResult("r1", 500, b"{}", "req_1", INJECTED["500"])
    order = list(reversed(range(count)))
    return BatchJob("batch_x", api, results, order, T0, delay, **options)  # type: ignore[arg-type]


def test_phases_over_the_delay() -> None:
    batch = job()
    assert batch.initial().phase == "validating"
    phases = [batch.progress(T0 + t).phase for t in (0.0, 0.05, 0.1, 0.5, 0.9, 0.95, 1.0, 5.0)]
    assert phases == [
        "validating",
        "validating",
        "in_progress",
        "in_progress",
        "finalizing",
        "finalizing",
        "completed",
        "completed",
    ]
    done = [batch.progress(T0 + t).done for t in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert done == [0, 2, 5, 7, 10]
    end = batch.progress(T0 + 2)
    assert end.marks == {
        "validating": T0,
        "in_progress": T0 + 0.1,
        "finalizing": T0 + 0.9,
        "completed": T0 + 1.0,
    }
    assert ended_at(end) == T0 + 1.0


def test_zero_delay_ends_at_the_first_look() -> None:
    batch = job(delay=0.0)
    assert batch.initial().phase == "validating"
    progress = batch.progress(T0)
    assert (progress.phase, progress.done) == ("completed", 10)
    assert request_counts(batch, progress) == {"total": 10, "completed": 9, "failed": 1}


def test_answered_in_processing_order() -> None:
    batch = job()
    progress = batch.progress(T0 + 0.3)
    assert [item.custom_id for item in batch.answered(progress)] == ["r9", "r8"]
    assert len(batch.unanswered(progress)) == 8


def test_invalid_input_fails_after_validating() -> None:
    batch = job(invalid=True)
    assert batch.progress(T0 + 0.05).phase == "validating"
    failed = batch.progress(T0 + 0.2)
    assert (failed.phase, failed.marks["failed"]) == ("failed", T0 + 0.1)
    assert request_counts(batch, failed) == {"total": 0, "completed": 0, "failed": 0}
    assert batch.cancel(T0 + 0.3) is None


def test_cancel_keeps_answered_items() -> None:
    batch = job()
    cancelling = batch.cancel(T0 + 0.5)
    assert cancelling is not None
    assert (cancelling.phase, cancelling.done) == ("cancelling", 5)
    assert batch.cancel(T0 + 0.55) == batch.progress(T0 + 0.55)
    cancelled = batch.progress(T0 + 0.65)
    assert (cancelled.phase, cancelled.done) == ("cancelled", 5)
    assert cancelled.marks["cancelling"] == T0 + 0.5
    assert request_counts(batch, cancelled) == {"total": 10, "completed": 5, "failed": 0}


def test_cannot_cancel_an_ended_job() -> None:
    batch = job()
    assert batch.cancel(T0 + 1.0) is None
    assert batch.cancelled_at is None


def test_expiring_job_answers_half() -> None:
    batch = job(expire=True)
    assert batch.progress(T0 + 0.99).phase == "in_progress"
    expired = batch.progress(T0 + 1.0)
    assert (expired.phase, expired.done) == ("expired", 5)
    assert expired.marks["expired"] == T0 + 1.0


def test_anthropic_counts_move_only_at_the_end() -> None:
    batch = job(api="anthropic")
    running = batch.progress(T0 + 0.5)
    assert status_of("anthropic", running) == "in_progress"
    assert request_counts(batch, running)["processing"] == 10
    batch.cancel(T0 + 0.5)
    assert status_of("anthropic", batch.progress(T0 + 0.55)) == "canceling"
    ended = batch.progress(T0 + 0.7)
    assert status_of("anthropic", ended) == "ended"
    counts = request_counts(batch, ended)
    assert counts == {"processing": 0, "succeeded": 5, "errored": 0, "canceled": 5, "expired": 0}
    expiring = job(api="anthropic", expire=True)
    counts = request_counts(expiring, expiring.progress(T0 + 1))
    assert counts == {"processing": 0, "succeeded": 5, "errored": 0, "canceled": 0, "expired": 5}
