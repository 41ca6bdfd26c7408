"""A worker process of the shared (Redis) mode: RQ in front, asyncio behind.

RQ's worker loop runs in the main thread (it owns signals and job timeouts); the job
it dequeues is the one the scheduler picks for this worker's backend (priority, then
fairness by owner, then model affinity; ``worker/rq_dispatch.py``). Each job runs on an asyncio
loop in a second thread that holds the worker's resources for its whole life: the
ComfyUI client and its WebSocket, database pool, storage, event bus and backend
monitor. While the monitor says the backend is down the worker takes no job.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker
from rq.job import Job as RQJob
from rq.queue import Queue
from rq.utils import now
from rq.worker import WorkerStatus

from comfyui_gateway.backends import RedisBackendReports
from comfyui_gateway.config import Settings
from comfyui_gateway.db.engine import (
    create_autocommit_session_factory,
    create_engine,
    create_session_factory,
)
from comfyui_gateway.eventbus import RedisEventBus
from comfyui_gateway.heap import freeze_started_process
from comfyui_gateway.jobqueue import RQJobQueue
from comfyui_gateway.jobqueue.rq_queue import rq_job_timeout
from comfyui_gateway.scheduling import SchedulerConfig
from comfyui_gateway.storage import create_storage
from worker import rq_task
from worker.maintenance import Maintenance
from worker.monitor import BackendMonitor
from worker.rq_dispatch import Dispatched, Dispatcher
from worker.services import BackendWorker, build_backend_worker

log = logging.getLogger("comfyui_gateway.worker")

T = TypeVar("T")

HEARTBEAT_EVERY_S = 5.0
"""How often the worker's RQ key is extended (it lives ``worker_ttl`` + 60 s, 480 s by
default). RQ's loop and the dispatcher's called the heartbeat two or three times a job,
each three Redis round trips in the thread that dequeues."""

DOWN_RECHECK_S = 1.0
"""While the backend is down the worker looks again (and sees a stop request) this often;
it heartbeats every ``HEARTBEAT_EVERY_S`` meanwhile."""


async def reachable_within(monitor: BackendMonitor, timeout_s: float) -> bool:
    """True once ``monitor`` says its backend answers; False after ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            await monitor.wait_reachable()
    except TimeoutError:
        return False
    return True


class AsyncSide:
    """The worker's asyncio loop in its own thread, and the resources living on it."""

    def __init__(
        self,
        settings: Settings,
        backend_url: str,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    ) -> None:
        self._settings = settings
        self._backend_url = backend_url
        self._loop = loop_factory()
        self._thread = threading.Thread(target=self._loop.run_forever, name="jobs", daemon=True)
        self.backend: BackendWorker | None = None
        self._closers: list[Any] = []

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def start(self) -> None:
        self._thread.start()
        self.call(self._open())

    def stop(self) -> None:
        self.call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def run_job(self, job_id: str) -> None:
        assert self.backend is not None
        self.call(self.backend.runner.run(job_id))

    @property
    def backend_reachable(self) -> bool:
        return self.backend is not None and self.backend.monitor.reachable

    def wait_until_reachable(self, timeout_s: float) -> bool:
        """Block the calling (RQ) thread until the backend answers, at most ``timeout_s``:
        woken by the monitor's own event, so the first job after start-up or after an
        outage is taken the moment a probe succeeds, not on the next poll."""
        if self.backend is None:
            return False
        return self.call(reachable_within(self.backend.monitor, timeout_s))

    async def _open(self) -> None:
        settings = self._settings
        engine = create_engine(settings.DATABASE_URL)
        sessions = create_session_factory(engine)
        redis = AsyncRedis.from_url(settings.REDIS_URL)
        storage = create_storage(settings)
        await storage.check()
        bus = RedisEventBus(redis, namespace=settings.REDIS_NAMESPACE)
        queue = RQJobQueue(
            Redis.from_url(settings.REDIS_URL),
            job_timeout_s=rq_job_timeout(settings),
            namespace=settings.REDIS_NAMESPACE,
        )
        self.backend = build_backend_worker(
            self._backend_url,
            settings=settings,
            sessions=sessions,
            storage=storage,
            bus=bus,
            queue=queue,
            reports=RedisBackendReports(redis, settings.REDIS_NAMESPACE),
            claim_sessions=create_autocommit_session_factory(engine),
        )
        await self.backend.start()
        maintenance = Maintenance(
            settings, sessions=sessions, storage=storage, bus=bus, queue=queue, redis=redis
        )
        await maintenance.start()
        self._closers = [
            maintenance.stop,
            self.backend.stop,
            bus.close,
            storage.close,
            redis.aclose,
            engine.dispose,
        ]

    async def _close(self) -> None:
        for close in self._closers:
            try:
                await close()
            except Exception:  # shutting down: close what can be closed
                log.exception("error while closing worker resources")


class GatewayRQWorker(SimpleWorker):
    """RQ's in-process worker that takes the job the scheduler picks for its backend
    (see ``worker/rq_dispatch.py``) and pauses while its backend is down."""

    async_side: AsyncSide
    dispatcher: Dispatcher
    _dispatched: Dispatched | None = None

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, skipped while the last one is under ``HEARTBEAT_EVERY_S`` old;
        one that sets its own timeout or rides a pipeline always goes."""
        last = self.last_heartbeat
        recent = last is not None and (now() - last).total_seconds() < HEARTBEAT_EVERY_S
        if recent and timeout is None and pipeline is None:
            return
        super().heartbeat(timeout, pipeline)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[RQJob, Queue] | None:
        self.set_state(WorkerStatus.IDLE)
        self.procline("Listening on " + ",".join(self.queue_names()))  # type: ignore[no-untyped-call]
        found = None
        while found is None and not self._stop_requested:
            while not self.async_side.backend_reachable and not self._stop_requested:
                self.dispatcher.forget()  # a restarted ComfyUI holds no model
                self.heartbeat()
                self.async_side.wait_until_reachable(DOWN_RECHECK_S)
            try:
                self.heartbeat()
                found = self.dispatcher.next_job(burst=timeout is None, tick=self._idle_tick)
            except (RedisConnectionError, RedisTimeoutError) as exc:  # as RQ's own dequeue
                log.error("Redis unreachable while dequeuing (%s); retrying in 1 s", exc)
                time.sleep(1.0)
                continue
            if found is None and timeout is None:
                break  # burst: nothing left
        self._dispatched = found
        if found is None:
            return None
        found.job.redis_server_version = self.get_redis_server_version()  # type: ignore[no-untyped-call]
        log.debug("dequeued job %s from %s", found.job.id, found.queue.name)
        return found.job, found.queue

    def _idle_tick(self) -> bool:
        """While idle, what RQ's own dequeue loop does between blocking pops."""
        self.heartbeat()
        if self.should_run_maintenance_tasks:
            self.run_maintenance_tasks()  # type: ignore[no-untyped-call]
        return not self._stop_requested and self.async_side.backend_reachable

    def execute_job(self, job: RQJob, queue: Queue) -> None:
        """Hand a job back, first in line, if the backend went down while we waited for it."""
        dispatched = self._dispatched
        if not self.async_side.backend_reachable and dispatched is not None:
            self.dispatcher.put_back(dispatched)
            return
        super().execute_job(job, queue)


def run_rq_worker(
    settings: Settings,
    backend_url: str,
    *,
    burst: bool = False,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
) -> None:
    """Serve jobs from the priority queues on ``backend_url`` until SIGTERM/SIGINT; the jobs
    run on a loop from ``loop_factory`` (the CLI passes uvloop's)."""
    async_side = AsyncSide(settings, backend_url, loop_factory)
    async_side.start()
    rq_task.install(async_side)
    try:
        connection = Redis.from_url(settings.REDIS_URL)
        queue = RQJobQueue(
            connection, job_timeout_s=rq_job_timeout(settings), namespace=settings.REDIS_NAMESPACE
        )
        worker = GatewayRQWorker(queue.queues, connection=connection)
        worker.async_side = async_side
        worker.dispatcher = Dispatcher(
            connection, queue, backend_url, SchedulerConfig.from_settings(settings)
        )
        log.info("worker started", extra={"backend": backend_url, "queues": worker.queue_names()})
        freeze_started_process()
        worker.work(burst=burst, logging_level="WARNING")
        worker.dispatcher.close()
    finally:
        rq_task.install(None)
        async_side.stop()
        log.info("worker stopped", extra={"backend": backend_url})
