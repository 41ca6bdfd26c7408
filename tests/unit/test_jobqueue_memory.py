"""The in-process queue hands out high before normal before low, FIFO within each."""

from __future__ import annotations

import asyncio

from comfyui_gateway.jobqueue import InProcessJobQueue
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.scheduling import QueueEntry, SchedulerConfig


async def test_priorities_then_arrival_order() -> None:
    queue = InProcessJobQueue()
    await queue.enqueue(QueueEntry("low-1", JobPriority.LOW))
    await queue.enqueue(QueueEntry("normal-1", JobPriority.NORMAL))
    await queue.enqueue(QueueEntry("high-1", JobPriority.HIGH))
    await queue.enqueue(QueueEntry("normal-2", JobPriority.NORMAL))
    await queue.enqueue(QueueEntry("high-2", JobPriority.HIGH))
    taken = [await queue.take() for _ in range(5)]
    assert taken == ["high-1", "high-2", "normal-1", "normal-2", "low-1"]


async def test_removed_jobs_are_never_handed_out() -> None:
    queue = InProcessJobQueue()
    await queue.enqueue(QueueEntry("a", JobPriority.NORMAL))
    await queue.enqueue(QueueEntry("b", JobPriority.NORMAL))
    assert await queue.remove("a")
    assert not await queue.remove("a")
    assert not await queue.contains("a")
    assert await queue.take() == "b"


async def test_depth_and_duplicates() -> None:
    queue = InProcessJobQueue()
    await queue.enqueue(QueueEntry("a", JobPriority.HIGH))
    await queue.enqueue(QueueEntry("a", JobPriority.HIGH))
    await queue.enqueue(QueueEntry("b", JobPriority.LOW))
    assert await queue.depth() == {JobPriority.HIGH: 1, JobPriority.NORMAL: 0, JobPriority.LOW: 1}


async def test_take_waits_for_work() -> None:
    queue = InProcessJobQueue()
    waiter = asyncio.create_task(queue.take())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await queue.enqueue(QueueEntry("late", JobPriority.LOW))
    assert await asyncio.wait_for(waiter, 1) == "late"


async def test_a_job_put_back_is_next_in_line() -> None:
    queue = InProcessJobQueue()
    await queue.enqueue(QueueEntry("first", JobPriority.NORMAL))
    await queue.enqueue(QueueEntry("second", JobPriority.NORMAL))
    taken = await queue.take()
    await queue.put_back(taken)
    assert await queue.take() == "first"
    assert await queue.take() == "second"


async def test_take_keeps_each_backend_on_its_models() -> None:
    queue = InProcessJobQueue(SchedulerConfig(affinity=True, max_wait_s=60))
    for index, model in enumerate("xyxy"):
        await queue.enqueue(QueueEntry(f"{model}-{index}", models=(model,)))
    assert await queue.take("gpu-1") == "x-0"
    assert await queue.take("gpu-2") == "y-1"  # x is gpu-1's now; y nobody's
    assert await queue.take("gpu-2") == "y-3"
    assert await queue.take("gpu-1") == "x-2"
    assert queue.resident("gpu-1") == {"x"}
    queue.forget("gpu-1")
    assert queue.resident("gpu-1") == frozenset()


async def test_a_job_left_to_its_backend_is_taken_elsewhere_after_the_wait() -> None:
    queue = InProcessJobQueue(SchedulerConfig(affinity=True, max_wait_s=0.2))
    await queue.enqueue(QueueEntry("x-0", models=("x",)))
    assert await queue.take("gpu-1") == "x-0"
    await queue.enqueue(QueueEntry("x-1", models=("x",)))
    waited = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(queue.take("gpu-2"), 5) == "x-1"
    assert asyncio.get_running_loop().time() - waited >= 0.15


async def test_a_waiting_slot_has_the_job_when_enqueue_returns() -> None:
    """The enqueuer's next work (the 202's ETA) runs after the slot took the job: on one
    thread, the other order made the backend wait for it."""
    queue = InProcessJobQueue()
    taken: list[str] = []

    async def slot() -> None:
        taken.append(await queue.take())

    waiting = asyncio.create_task(slot())
    await asyncio.sleep(0)  # the slot runs until it sleeps on the queue
    assert queue._changed._waiters
    await queue.enqueue(QueueEntry("job-1", JobPriority.NORMAL))
    assert taken == ["job-1"]
    await waiting
