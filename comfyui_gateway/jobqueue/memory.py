"""The embedded mode's queue: asyncio, in this process, same priorities as RQ."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from comfyui_gateway.jobqueue.base import PRIORITY_ORDER
from comfyui_gateway.jobs.priority import JobPriority


@dataclass(order=True)
class _Entry:
    rank: int
    sequence: int
    job_id: str = field(compare=False)


class InProcessJobQueue:
    """A priority queue of job ids; ``take()`` hands out high before normal before low."""

    def __init__(self) -> None:
        self._heap: asyncio.PriorityQueue[_Entry] = asyncio.PriorityQueue()
        self._waiting: dict[str, JobPriority] = {}
        self._taken: dict[str, JobPriority] = {}
        self._sequence = itertools.count()
        self._front = itertools.count(-1, -1)

    async def enqueue(self, job_id: str, priority: JobPriority) -> None:
        if job_id in self._waiting:
            return
        self._waiting[job_id] = priority
        rank = PRIORITY_ORDER.index(priority)
        await self._heap.put(_Entry(rank, next(self._sequence), job_id))

    async def take(self) -> str:
        """The next job id to run; waits while the queue is empty. Removed ids are skipped."""
        while True:
            entry = await self._heap.get()
            priority = self._waiting.pop(entry.job_id, None)
            if priority is not None:
                self._taken[entry.job_id] = priority
                return entry.job_id

    async def put_back(self, job_id: str) -> None:
        """Return a job a slot took but cannot run (its backend went down): first in line."""
        priority = self._taken.pop(job_id, JobPriority.NORMAL)
        self._waiting[job_id] = priority
        rank = PRIORITY_ORDER.index(priority)
        await self._heap.put(_Entry(rank, next(self._front), job_id))

    def done(self, job_id: str) -> None:
        """Forget a taken job's priority once it ran."""
        self._taken.pop(job_id, None)

    async def remove(self, job_id: str) -> bool:
        return self._waiting.pop(job_id, None) is not None

    async def contains(self, job_id: str) -> bool:
        return job_id in self._waiting

    async def depth(self) -> dict[JobPriority, int]:
        counts = dict.fromkeys(PRIORITY_ORDER, 0)
        for priority in self._waiting.values():
            counts[priority] += 1
        return counts
