"""A batch job on the simulated clock: its items get done over its delay, then it ends.

Time is not driven by a task: every look at a job computes where it stands from the time
elapsed since creation. Over a delay D, a job validates during the first 10%, answers its
items (in a seeded shuffled order) evenly until 90%, finalizes, and ends at D. An expiring job
answers only half its items by D; a cancelled one keeps the items answered by the time of the
cancel and stays `cancelling` for another 10% of D.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.sim.directive import Plan
from gateway.sim.errors import SimError

VALIDATED = 0.1
ANSWERED = 0.9
CANCELLING = 0.1
DAY = 24 * 3600
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
ANTHROPIC_STATUS = {"cancelling": "canceling", **{phase: "ended" for phase in ENDED}}


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The answer to one item, rendered in its API's shape, whatever happens to the job."""

    custom_id: str
    status: int
    body: bytes
    request_id: str
    error: SimError | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    plan: Plan | None = None

    @property
    def ok(self) -> bool:
        """Whether the item succeeded (it is still answered only if the job gets to it)."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a job stands: its phase, how many items are answered, when each phase began."""

    phase: str
    done: int
    marks: dict[str, float]

    @property
    def ended(self) -> bool:
        """Whether the job is over (completed, failed, expired or cancelled)."""
        return self.phase in ENDED


@dataclass(slots=True)
class BatchJob:
    """One OpenAI batch or Anthropic message batch, with its items' answers decided up front."""

    id: str
    api: str
    results: list[ItemResult]
    order: list[int]
    created_at: float
    delay: float
    expire: bool = False
    invalid: bool = False
    cancelled_at: float | None = None
    polls: int = 0
    fetches: int = 0
    api_key: str | None = None
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def initial(self) -> Progress:
        """The state a job is created in, whatever its delay."""
        return Progress("validating", 0, {"validating": self.created_at})

    def progress(self, now: float) -> Progress:
        """Where the job stands at wall-clock time `now`."""
        marks = {"validating": self.created_at}
        validated = self._at(VALIDATED)
        if self.invalid:
            if now < validated:
                return Progress("validating", 0, marks)
            return Progress("failed", 0, {**marks, "failed": validated})
        if self.cancelled_at is not None:
            return self._cancelled(now, marks)
        if now < validated:
            return Progress("validating", 0, marks)
        marks["in_progress"] = validated
        done = self._done_by(now)
        end = self._at(1.0)
        if self.expire:
            if now < end:
                return Progress("in_progress", done, marks)
            return Progress("expired", done, {**marks, "expired": end})
        if now < self._at(ANSWERED):
            return Progress("in_progress", done, marks)
        marks["finalizing"] = self._at(ANSWERED)
        if now < end:
            return Progress("finalizing", done, marks)
        return Progress("completed", done, {**marks, "completed": end})

    def cancel(self, now: float) -> Progress | None:
        """Start cancelling at `now`; None if the job has already ended."""
        progress = self.progress(now)
        if progress.ended:
            return None
        if self.cancelled_at is None:
            self.cancelled_at = now
        return self.progress(now)

    def answered(self, progress: Progress) -> list[ItemResult]:
        """The items answered so far, in the order they were processed."""
        return [self.results[i] for i in self.order[: progress.done]]

    def unanswered(self, progress: Progress) -> list[ItemResult]:
        """The items not (yet) answered."""
        return [self.results[i] for i in self.order[progress.done :]]

    def _cancelled(self, now: float, marks: dict[str, float]) -> Progress:
        cancelled_at = self.cancelled_at
        assert cancelled_at is not None
        if cancelled_at >= self._at(VALIDATED):
            marks["in_progress"] = self._at(VALIDATED)
        marks["cancelling"] = cancelled_at
        done = self._done_by(cancelled_at)
        over = cancelled_at + CANCELLING * self.delay
        if now < over:
            return Progress("cancelling", done, marks)
        return Progress("cancelled", done, {**marks, "cancelled": over})

    def _at(self, fraction: float) -> float:
        return self.created_at + fraction * self.delay

    def _done_by(self, moment: float) -> int:
        target = len(self.results) // 2 if self.expire else len(self.results)
        start, stop = self._at(VALIDATED), self._at(ANSWERED)
        if moment >= stop:
            return target
        if moment <= start:
            return 0
        return int(target * (moment - start) / (stop - start) + 1e-9)


def status_of(api: str, progress: Progress) -> str:
    """The job's status as its API names it (`status` or `processing_status`)."""
    if api == "anthropic":
        return ANTHROPIC_STATUS.get(progress.phase, "in_progress")
    return progress.phase


def request_counts(job: BatchJob, progress: Progress) -> dict[str, int]:
    """The job's `request_counts` in its API's shape."""
    answered = job.answered(progress)
    succeeded = sum(1 for item in answered if item.ok)
    if job.api == "openai":
        total = 0 if job.invalid else len(job.results)
        return {"total": total, "completed": succeeded, "failed": len(answered) - succeeded}
    counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
    if not progress.ended:
        counts["processing"] = len(job.results)
        return counts
    counts["succeeded"] = succeeded
    counts["errored"] = len(answered) - succeeded
    unanswered = len(job.results) - len(answered)
    counts["expired" if progress.phase == "expired" else "canceled"] = unanswered
    return counts


def ended_at(progress: Progress) -> float | None:
    """When the job ended, or None while it runs."""
    return max(progress.marks.values()) if progress.ended else None
