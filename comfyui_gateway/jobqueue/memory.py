"""The embedded mode's queue: in this process, chosen by the scheduler per backend.

Every backend's slots call ``take(backend)``; the scheduler picks among all waiting
entries (priority, fairness by owner, model affinity). Residency is learned here from
what was taken, so the slots of one backend share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time

from comfyui_gateway.jobs.priority import PRIORITY_ORDER, JobPriority
from comfyui_gateway.scheduling import Residency, SchedulerConfig, choose
from comfyui_gateway.scheduling.entry import QueueEntry


class InProcessJobQueue:
    """Waiting entries; ``take(backend)`` hands out the one the scheduler picks for it."""

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self._config = config or SchedulerConfig()
        self._waiting: dict[str, QueueEntry] = {}
        self._taken: dict[str, QueueEntry] = {}
        self._residency: dict[str, Residency] = {}
        self._served: dict[str, float] = {}
        self._turn = itertools.count()
        self._changed = asyncio.Condition()
        self._version = 0
        """Counts enqueues, so a taker never sleeps through one that came as it chose."""

    async def enqueue(self, entry: QueueEntry) -> None:
        if entry.job_id in self._waiting:
            return
        self._waiting[entry.job_id] = entry
        self._version += 1
        async with self._changed:
            self._changed.notify_all()
        # Hand the loop to a waiting slot now: it claims the job and posts the prompt
        # before the caller's next work (the 202's queue position and ETA, ~2 ms) runs
        # first on this one thread and the backend waits for it.
        await asyncio.sleep(0)

    async def take(self, backend: str = "") -> str:
        """The job id ``backend`` runs next; waits while nothing is for it."""
        while True:
            seen = self._version
            choice = choose(
                self._waiting.values(),
                here=self.resident(backend),
                elsewhere=[r.models for b, r in self._residency.items() if b != backend],
                served=self._served,
                now=time.time(),
                config=self._config,
            )
            if choice.entry is not None:
                return self._claim(choice.entry, backend)
            timeout = None if choice.retry_at is None else max(0.0, choice.retry_at - time.time())
            async with self._changed:
                if self._version != seen:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)

    def _claim(self, entry: QueueEntry, backend: str) -> str:
        del self._waiting[entry.job_id]
        self._taken[entry.job_id] = entry
        self._served[entry.owner] = next(self._turn)
        before = self._residency.get(backend, Residency())
        self._residency[backend] = before.after(entry.models, self._config.resident_jobs)
        return entry.job_id

    def resident(self, backend: str) -> frozenset[str]:
        """The models ``backend`` holds as far as this queue sent it jobs."""
        return self._residency.get(backend, Residency()).models

    def forget(self, backend: str) -> None:
        """The backend went down: a restarted ComfyUI holds no model."""
        self._residency.pop(backend, None)

    async def put_back(self, job_id: str) -> None:
        """Return a job a slot took but cannot run (its backend went down): it keeps
        its place (its age), so it is first in line for its owner."""
        entry = self._taken.pop(job_id, None) or QueueEntry(job_id)
        await self.enqueue(entry)

    def done(self, job_id: str) -> None:
        """Forget a taken job once it ran."""
        self._taken.pop(job_id, None)

    async def remove(self, job_id: str) -> bool:
        return self._waiting.pop(job_id, None) is not None

    async def contains(self, job_id: str) -> bool:
        return job_id in self._waiting

    async def depth(self) -> dict[JobPriority, int]:
        counts = dict.fromkeys(PRIORITY_ORDER, 0)
        for entry in self._waiting.values():
            counts[entry.priority] += 1
        return counts

    async def waiting(self) -> list[QueueEntry]:
        return list(self._waiting.values())
