"""Packing queued calls into provider jobs (native lane).

Per lane and upstream route (calls of one provider job share an endpoint), calls wait in
memory until `batch_max_items` of them are held or the oldest has waited `batch_max_wait`;
then they leave as one job. The entries stay unacked meanwhile, so a worker that dies holding
them loses nothing: the queue hands them to another worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.batch.queue import Entry, Lane

Limits = Callable[[Lane], tuple[int, float]]  # lane -> (max items, max wait in seconds)


@dataclass(frozen=True, slots=True)
class Held:
    entry: Entry
    group: str  # the upstream route
    queued_at: float  # epoch seconds the call (re)entered the queue

    @property
    def call_id(self) -> str:
        return self.entry.call_id


class Packer:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._buckets: dict[tuple[Lane, str], dict[str, Held]] = {}
        self._not_before: dict[tuple[Lane, str], float] = {}

    def add(self, held: Held) -> bool:
        """Hold a call; False if it is held already (a duplicate entry: ack it)."""
        bucket = self._buckets.setdefault((held.entry.lane, held.group), {})
        if held.call_id in bucket:
            return False
        bucket[held.call_id] = held
        return True

    def due(self, now: float) -> list[list[Held]]:
        """The jobs to submit now, oldest calls first; they are no longer held."""
        jobs: list[list[Held]] = []
        for key, bucket in self._buckets.items():
            if not bucket or now < self._not_before.get(key, 0.0):
                continue
            max_items, max_wait = self.limits(key[0])
            waiting = sorted(bucket.values(), key=lambda held: held.queued_at)
            while len(waiting) >= max_items:
                jobs.append(waiting[:max_items])
                waiting = waiting[max_items:]
            if waiting and now - waiting[0].queued_at >= max_wait:
                jobs.append(waiting)
                waiting = []
            self._buckets[key] = {held.call_id: held for held in waiting}
        return jobs

    def put_back(self, job: list[Held], retry_at: float) -> None:
        """A job that could not be submitted: hold its calls again, untouched until `retry_at`."""
        for held in job:
            self.add(held)
        if job:
            self._not_before[(job[0].entry.lane, job[0].group)] = retry_at

    def entries(self) -> list[Entry]:
        return [held.entry for bucket in self._buckets.values() for held in bucket.values()]

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())
