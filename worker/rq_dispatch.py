"""How an RQ worker picks its next job: the scheduler, not RQ's FIFO pop.

The worker reads the waiting entries, the backends' residency and the owners' turns
in one script call, lets ``comfyui_gateway.scheduling.choose`` pick, and claims the
pick with ``LREM`` (whoever removes it wins; a loser simply chooses again). Nothing
polls: with nothing to take, the worker blocks on the queue's wake-up channel,
subscribed before its first look so no enqueue is missed, and wakes at the latest
when a job left to another backend becomes its own (``Choice.retry_at``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.queue import Queue

from comfyui_gateway.jobqueue import RQJobQueue
from comfyui_gateway.scheduling import Residency, SchedulerConfig, choose
from comfyui_gateway.scheduling.entry import QueueEntry

log = logging.getLogger("comfyui_gateway.worker.dispatch")

IDLE_TICK_S = 5.0
"""Longest an idle worker blocks before it heartbeats and checks for a stop."""


@dataclass(frozen=True)
class Dispatched:
    entry: QueueEntry
    job: RQJob
    queue: Queue


class Dispatcher:
    """Chooses and claims jobs for one backend; one per worker process."""

    def __init__(
        self, redis: Redis, queue: RQJobQueue, backend: str, config: SchedulerConfig
    ) -> None:
        self._redis = redis
        self._queue = queue
        self._backend = backend
        self._config = config
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self._pubsub.subscribe(queue.wake_channel)
        self._pubsub.get_message(timeout=5.0)  # the confirmation: subscribed from here on

    def close(self) -> None:
        self._pubsub.close()

    def next_job(self, *, burst: bool, tick: Callable[[], bool]) -> Dispatched | None:
        """The next job for this backend; None in burst mode once nothing waits, or when
        ``tick`` (called at least every ``IDLE_TICK_S`` while idle) answers False."""
        while True:
            self._drain()
            found, retry_at, waiting = self._try_once()
            if found is not None:
                return found
            if burst and not waiting:
                return None
            if found is None and retry_at == 0.0:
                continue  # lost a race for a job: choose again now
            wait = IDLE_TICK_S if retry_at is None else retry_at - time.time()
            self._pubsub.get_message(timeout=min(IDLE_TICK_S, max(0.01, wait)))
            if not tick():
                return None

    def _drain(self) -> None:
        while self._pubsub.get_message(timeout=0.0) is not None:
            pass

    def _try_once(self) -> tuple[Dispatched | None, float | None, bool]:
        """A claimed job, or None with when to look again (0.0: at once) and whether
        anything waits at all."""
        snapshot = self._queue.snapshot()
        here = snapshot.residency.get(self._backend, Residency())
        elsewhere = [
            r.models
            for b, r in snapshot.residency.items()
            if b != self._backend and b in snapshot.live
        ]
        choice = choose(
            snapshot.entries,
            here=here.models,
            elsewhere=elsewhere,
            served=snapshot.served,
            now=time.time(),
            config=self._config,
        )
        if choice.entry is None:
            return None, choice.retry_at, bool(snapshot.entries)
        entry = choice.entry
        if not self._queue.claim(
            entry, self._backend, here.after(entry.models, self._config.resident_jobs)
        ):
            return None, 0.0, True
        queue = self._queue.queue(entry.priority)
        try:
            job = RQJob.fetch(entry.job_id, connection=self._redis, serializer=queue.serializer)
        except NoSuchJobError:  # RQ's record expired: the reconciler enqueues it again
            log.warning("claimed job %s has no RQ record", entry.job_id)
            return None, 0.0, True
        return Dispatched(entry, job, queue), None, True

    def put_back(self, dispatched: Dispatched) -> None:
        """The backend went down after the claim: first in line again, residency gone."""
        self._queue.forget(self._backend)
        self._queue.put_back_sync(dispatched.entry, dispatched.job)

    def forget(self) -> None:
        self._queue.forget(self._backend)
