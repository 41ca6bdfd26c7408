"""The RQ queue on a real Redis: priorities, removal, lookup, depth."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Worker

from comfyui_gateway.backends import BackendReport
from comfyui_gateway.jobqueue import RQJobQueue
from comfyui_gateway.jobqueue.rq_queue import TASK
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.names import (
    backend_reports_key,
    queue_entries_key,
    residency_key,
    served_key,
    turn_key,
)
from comfyui_gateway.scheduling import QueueEntry, Residency, SchedulerConfig
from worker.rq_dispatch import Dispatcher


@pytest.fixture
def rq_queue() -> Iterator[RQJobQueue]:
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    queue = RQJobQueue(redis, job_timeout_s=60, namespace=namespace)
    yield queue
    for rq in queue.queues:
        rq.empty()  # type: ignore[no-untyped-call]
        rq.delete(delete_jobs=True)
    keys = [queue_entries_key, residency_key, served_key, turn_key, backend_reports_key]
    redis.delete(*(key(namespace) for key in keys))
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


def _dispatcher(queue: RQJobQueue, backend: str, config: SchedulerConfig) -> Dispatcher:
    return Dispatcher(queue.queues[0].connection, queue, backend, config)


def _take(dispatcher: Dispatcher) -> str:
    found = dispatcher.next_job(burst=True, tick=lambda: True)
    assert found is not None
    return found.entry.job_id


def _live(queue: RQJobQueue, *backends: str) -> None:
    redis = queue.queues[0].connection
    for url in backends:
        report = BackendReport(url=url, reachable=True, queue_remaining=0)
        redis.hset(backend_reports_key(queue.namespace), url, report.to_json())


async def test_rq_workers_choose_by_fairness_and_affinity(rq_queue: RQJobQueue) -> None:
    """Owner a's backlog does not hold b back; each backend keeps its checkpoint."""
    config = SchedulerConfig(affinity=True, max_wait_s=60)
    _live(rq_queue, "gpu-1", "gpu-2")
    for index in range(6):
        model = "x" if index % 2 == 0 else "y"
        await rq_queue.enqueue(QueueEntry(f"a-{index}", owner="a", models=(model,)))
    await rq_queue.enqueue(QueueEntry("b-0", owner="b", models=("x",)))
    one, two = _dispatcher(rq_queue, "gpu-1", config), _dispatcher(rq_queue, "gpu-2", config)
    try:
        assert _take(one) == "a-0"  # nobody holds anything: the oldest
        assert _take(two) == "b-0"  # b never served; x outnumbers its holder
        assert _take(one) == "a-2"  # gpu-1 holds x
        assert _take(two) == "a-4"  # gpu-2 holds x too now (b-0)
        assert [_take(one), _take(one), _take(one)] == ["a-1", "a-3", "a-5"]
        assert await rq_queue.depth() == dict.fromkeys(JobPriority, 0)
        assert await rq_queue.waiting() == []
    finally:
        one.close()
        two.close()


async def test_a_claim_is_won_once_and_remove_races_it(rq_queue: RQJobQueue) -> None:
    entry = QueueEntry("only", owner="a", models=("x",))
    await rq_queue.enqueue(entry)
    assert rq_queue.claim(entry, "gpu-1", Residency().after(("x",), 1))
    assert not rq_queue.claim(entry, "gpu-2", Residency())
    assert not await rq_queue.remove("only")
    await rq_queue.enqueue(QueueEntry("other"))
    assert await rq_queue.remove("other")
    assert not rq_queue.claim(QueueEntry("other"), "gpu-1", Residency())


def test_an_idle_worker_wakes_on_enqueue_without_polling(rq_queue: RQJobQueue) -> None:
    dispatcher = _dispatcher(rq_queue, "gpu-1", SchedulerConfig())
    picked: list[float] = []

    def work() -> None:
        found = dispatcher.next_job(burst=False, tick=lambda: not picked)
        assert found is not None
        picked.append(time.monotonic())

    thread = threading.Thread(target=work)
    thread.start()
    try:
        time.sleep(0.3)  # the worker is blocked on the wake-up channel by now
        assert not picked
        sent = time.monotonic()
        rq_queue.enqueue_sync(QueueEntry("late", models=("x",)))
        thread.join(timeout=5)
        assert picked and picked[0] - sent < 0.5  # woken, not the 5 s idle tick
    finally:
        picked.append(0.0)
        thread.join(timeout=10)
        dispatcher.close()


async def test_workers_of_one_backend_share_its_residency(rq_queue: RQJobQueue) -> None:
    config = SchedulerConfig(affinity=True, max_wait_s=60)
    _live(rq_queue, "gpu-1", "gpu-2")
    for index, model in enumerate("xyx"):
        await rq_queue.enqueue(QueueEntry(f"{model}-{index}", models=(model,)))
    first, second = _dispatcher(rq_queue, "gpu-1", config), _dispatcher(rq_queue, "gpu-1", config)
    other = _dispatcher(rq_queue, "gpu-2", config)
    try:
        assert _take(first) == "x-0"
        assert _take(second) == "x-2"  # the backend's other worker knows it holds x
        assert _take(other) == "y-1"
    finally:
        for dispatcher in (first, second, other):
            dispatcher.close()
