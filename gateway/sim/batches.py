"""Every batch job and file the simulator holds, and the seeded choices batches make."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

from gateway.sim.batch_job import BatchJob, ended_at, request_counts, status_of
from gateway.sim.files import FileStore
from gateway.sim.options import SimOptions

FIRST_CALL_ID = 1_000_000_000


class BatchStore:
    """Jobs by id in creation order, the file store, and the batch random source."""

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.files = FileStore()
        self._jobs: dict[str, BatchJob] = {}
        self._rng = random.Random(options.seed + 2)
        self._call_ids = itertools.count(FIRST_CALL_ID)

    def add(self, job: BatchJob) -> None:
        """Keep a new job."""
        self._jobs[job.id] = job

    def get(self, job_id: str, api: str) -> BatchJob | None:
        """The job `job_id` of `api`, or None."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.api == api and not job.deleted else None

    def newest_first(self, api: str) -> list[BatchJob]:
        """The jobs of `api`, newest first."""
        jobs = reversed(self._jobs.values())
        return [job for job in jobs if job.api == api and not job.deleted]

    def next_call_id(self) -> int:
        """An id for a batch item's call, apart from the ids of synchronous requests."""
        return next(self._call_ids)

    def shuffled(self, count: int) -> list[int]:
        """The order in which a job of `count` items answers them."""
        order = list(range(count))
        self._rng.shuffle(order)
        return order

    def injects_failure(self) -> bool:
        """Whether this item is one of the `batch_fail_rate` fraction answered 500."""
        rate = self.options.batch_fail_rate
        return rate > 0 and self._rng.random() < rate

    def delay_for(self, override: Any) -> float:
        """A job's delay in seconds: `override` (ms) if it is a number, else the default."""
        try:
            delay_ms = float(override)
        except (TypeError, ValueError):
            delay_ms = self.options.batch_delay_ms
        return max(delay_ms, 0.0) / 1000.0

    def summary(self, api: str | None = None) -> list[dict[str, Any]]:
        """What `GET /_sim/batches` shows: every job, deleted ones too, oldest first."""
        now = time.time()
        rows = []
        for job in self._jobs.values():
            if api is not None and job.api != api:
                continue
            progress = job.progress(now)
            answered = job.answered(progress)
            succeeded = sum(1 for item in answered if item.ok)
            rows.append(
                {
                    "id": job.id,
                    "api": job.api,
                    "status": status_of(job.api, progress),
                    "phase": progress.phase,
                    "request_counts": request_counts(job, progress),
                    "items": {
                        "total": len(job.results),
                        "answered": len(answered),
                        "succeeded": succeeded,
                        "failed": len(answered) - succeeded,
                    },
                    "custom_ids": [item.custom_id for item in job.results],
                    "created_at": job.created_at,
                    "ended_at": ended_at(progress),
                    "cancel_requested_at": job.cancelled_at,
                    "delay_ms": job.delay * 1000.0,
                    "expire": job.expire,
                    "polls": job.polls,
                    "result_fetches": job.fetches,
                    "api_key": job.api_key,
                    "model": job.extra.get("model"),
                    "deleted": job.deleted,
                }
            )
        return rows

    def reset(self) -> None:
        """Forget every job and file."""
        self._jobs.clear()
        self.files.reset()
