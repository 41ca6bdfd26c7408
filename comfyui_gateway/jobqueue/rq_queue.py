"""The shared mode's queue: one RQ queue per priority on Redis.

RQ's own job id is the gateway's job id, so a queued job can be found, removed and
re-enqueued by id. RQ's client is synchronous; calls run in a thread.
"""

from __future__ import annotations

import asyncio

from redis import Redis
from rq import Queue

from comfyui_gateway.jobqueue.base import PRIORITY_ORDER
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.names import DEFAULT_NAMESPACE, queue_name

TASK = "worker.rq_task.run_job"
"""The function RQ workers call with the job id (see worker/rq_task.py)."""


class RQJobQueue:
    """Job ids in RQ queues ``cgw-high``, ``cgw-normal``, ``cgw-low``."""

    def __init__(
        self, redis: Redis, *, job_timeout_s: int, namespace: str = DEFAULT_NAMESPACE
    ) -> None:
        self._redis = redis
        self._job_timeout_s = job_timeout_s
        self._queues = {
            p: Queue(queue_name(p.value, namespace), connection=redis) for p in PRIORITY_ORDER
        }

    @property
    def queues(self) -> list[Queue]:
        """In the order workers must listen to them."""
        return [self._queues[p] for p in PRIORITY_ORDER]

    async def enqueue(self, job_id: str, priority: JobPriority) -> None:
        await asyncio.to_thread(self._enqueue, job_id, priority)

    def _enqueue(self, job_id: str, priority: JobPriority) -> None:
        self._queues[priority].enqueue(
            TASK,
            job_id,
            job_id=job_id,
            job_timeout=self._job_timeout_s,
            result_ttl=0,
            failure_ttl=24 * 3600,
        )

    async def remove(self, job_id: str) -> bool:
        return await asyncio.to_thread(self._remove, job_id)

    def _remove(self, job_id: str) -> bool:
        removed = sum(queue.remove(job_id) for queue in self._queues.values())
        return bool(removed > 0)

    async def contains(self, job_id: str) -> bool:
        return await asyncio.to_thread(self._contains, job_id)

    def _contains(self, job_id: str) -> bool:
        # The queue lists themselves, not RQ's job status: RQ 3 moves a dequeued id to an
        # intermediate list and the status still reads "queued" there, so a worker killed
        # right after dequeuing would hide the job from the reconciler. A duplicate enqueue
        # is harmless (the runner only claims a job the database still calls queued).
        return any(queue.get_job_position(job_id) is not None for queue in self._queues.values())

    async def depth(self) -> dict[JobPriority, int]:
        return await asyncio.to_thread(lambda: {p: q.count for p, q in self._queues.items()})
