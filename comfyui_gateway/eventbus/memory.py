"""The embedded mode's event bus: fan-out inside this process, no broker.

Subscribers and publishers share one event loop, so publishing is a synchronous loop
over the job's subscriber queues; a slow subscriber only loses its own oldest
non-terminal events (``eventbus.queue``) and never delays anyone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from comfyui_gateway.eventbus.queue import DEFAULT_QUEUE_SIZE, EventQueue
from comfyui_gateway.eventbus.subscription import Subscription
from comfyui_gateway.events import JobEvent


class MemoryEventBus:
    """An ``EventBus`` for one process; must be used from a single event loop.

    Usage::

        bus = MemoryEventBus()
        async with bus.subscribe(job_id) as events:
            await bus.publish(event)          # from the worker side
            async for received in events: ...
        await bus.close()
    """

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self._queue_size = queue_size
        self._subscribers: dict[str, set[EventQueue]] = {}
        self._closed = False

    async def publish(self, event: JobEvent) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        for queue in self._subscribers.get(event.job_id, ()):
            queue.put(event)

    async def publish_many(self, events: Sequence[JobEvent]) -> None:
        for event in events:
            await self.publish(event)

    def subscribe(self, job_id: str) -> Subscription:
        return Subscription(
            job_id,
            EventQueue(self._queue_size),
            attach=partial(self._attach, job_id),
            detach=partial(self._detach, job_id),
        )

    async def close(self) -> None:
        self._closed = True
        for queues in self._subscribers.values():
            for queue in queues:
                queue.close()
        self._subscribers.clear()

    def subscriber_count(self, job_id: str) -> int:
        """Local subscribers of ``job_id`` (for metrics and tests)."""
        return len(self._subscribers.get(job_id, ()))

    async def _attach(self, job_id: str, queue: EventQueue) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        self._subscribers.setdefault(job_id, set()).add(queue)

    def _detach(self, job_id: str, queue: EventQueue) -> None:
        queues = self._subscribers.get(job_id)
        if queues is None:
            return
        queues.discard(queue)
        if not queues:
            del self._subscribers[job_id]
