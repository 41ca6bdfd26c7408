"""The queue interface both modes implement."""

from __future__ import annotations

from typing import Protocol

from comfyui_gateway.jobs.priority import PRIORITY_ORDER, JobPriority
from comfyui_gateway.scheduling.entry import QueueEntry

__all__ = ["PRIORITY_ORDER", "JobQueue", "QueueEntry"]


class JobQueue(Protocol):
    """Jobs waiting for a worker, one queue per priority; workers choose among them
    with ``comfyui_gateway.scheduling`` (priority, fairness by owner, model affinity)."""

    async def enqueue(self, entry: QueueEntry) -> None:
        """Make the job available to workers (after its row is committed)."""

    async def remove(self, job_id: str) -> bool:
        """Take a waiting job out; False when no worker can still see it (already taken)."""

    async def contains(self, job_id: str) -> bool:
        """Whether the job id is waiting in a queue (for the reconciler)."""

    async def depth(self) -> dict[JobPriority, int]:
        """How many ids wait in each priority's queue."""

    async def waiting(self) -> list[QueueEntry]:
        """The waiting entries (for per-model metrics); order not meaningful."""
