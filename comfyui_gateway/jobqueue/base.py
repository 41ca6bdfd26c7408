"""The queue interface both modes implement."""

from __future__ import annotations

from typing import Protocol

from comfyui_gateway.jobs.priority import JobPriority

PRIORITY_ORDER: tuple[JobPriority, ...] = (JobPriority.HIGH, JobPriority.NORMAL, JobPriority.LOW)
"""Workers drain queues in this order."""


class JobQueue(Protocol):
    """Job ids waiting for a worker, one queue per priority."""

    async def enqueue(self, job_id: str, priority: JobPriority) -> None:
        """Make the job available to workers (after its row is committed)."""

    async def remove(self, job_id: str) -> bool:
        """Take a waiting job out; False when no worker can still see it (already taken)."""

    async def contains(self, job_id: str) -> bool:
        """Whether the job id is waiting in a queue (for the reconciler)."""

    async def depth(self) -> dict[JobPriority, int]:
        """How many ids wait in each priority's queue."""
