"""The RQ queue on a real Redis: priorities, removal, lookup, depth."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Worker

from comfyui_gateway.jobqueue import RQJobQueue
from comfyui_gateway.jobqueue.rq_queue import TASK
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.scheduling import QueueEntry


@pytest.fixture
def rq_queue() -> Iterator[RQJobQueue]:
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    queue = RQJobQueue(redis, job_timeout_s=60, namespace=f"test-{uuid.uuid4().hex[:8]}")
    yield queue
    for rq in queue.queues:
        rq.empty()  # type: ignore[no-untyped-call]
        rq.delete(delete_jobs=True)
    redis.close()


async def test_enqueue_remove_contains_depth(rq_queue: RQJobQueue) -> None:
    await rq_queue.enqueue(QueueEntry("job-low", JobPriority.LOW))
    await rq_queue.enqueue(QueueEntry("job-high", JobPriority.HIGH))
    await rq_queue.enqueue(QueueEntry("job-normal", JobPriority.NORMAL))
    assert await rq_queue.depth() == {
        JobPriority.HIGH: 1,
        JobPriority.NORMAL: 1,
        JobPriority.LOW: 1,
    }
    assert await rq_queue.contains("job-normal")
    assert await rq_queue.remove("job-normal")
    assert not await rq_queue.remove("job-normal")
    assert not await rq_queue.contains("never-enqueued")


async def test_workers_see_high_priority_first(rq_queue: RQJobQueue) -> None:
    for index in range(3):
        await rq_queue.enqueue(QueueEntry(f"low-{index}", JobPriority.LOW))
    await rq_queue.enqueue(QueueEntry("high-0", JobPriority.HIGH))
    worker = Worker(rq_queue.queues, connection=rq_queue.queues[0].connection)
    job, queue = worker.dequeue_job_and_maintain_ttl(timeout=1) or (None, None)
    assert job is not None and queue is not None
    assert job.id == "high-0"
    assert job.func_name == TASK
    assert job.args == ("high-0",)
