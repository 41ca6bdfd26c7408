"""A running job's live events, published without holding up the job.

The follow loop used to await one broker round trip per event (node started, step
progress...). ``EventPublisher`` queues them; one background send at a time delivers
everything queued so far with ``publish_many`` (one pipelined round trip on Redis), so
order per job is kept and a burst of events costs one round trip. ``flush`` waits for
delivery: the terminal event is flushed before the worker moves on.

Events stay best effort (the database is the truth): a failed send is logged and
dropped, as a failed ``publish`` was before.
"""

from __future__ import annotations

import asyncio
import logging

from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.events import JobEvent
from comfyui_gateway.tracing import child_span

log = logging.getLogger("comfyui_gateway.worker.publisher")


class EventPublisher:
    """Ordered, batching publisher for one job's events (internal to the runner)."""

    def __init__(self, bus: EventBus, job_id: str) -> None:
        self._bus = bus
        self._job_id = job_id
        self._pending: list[JobEvent] = []
        self._sender: asyncio.Task[None] | None = None

    def post(self, event: JobEvent) -> None:
        self._pending.append(event)
        if self._sender is None:
            self._sender = asyncio.create_task(self._drain(), name=f"events-{self._job_id}")

    async def flush(self) -> None:
        """Wait until every event posted so far was sent (or given up on)."""
        while self._sender is not None:
            await asyncio.shield(self._sender)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._send(batch)
        finally:
            self._sender = None

    async def _send(self, batch: list[JobEvent]) -> None:
        with child_span("events.publish", {"job.id": self._job_id, "events.count": len(batch)}):
            try:
                await self._bus.publish_many(batch)
            except Exception:  # events are best effort; the database stays the truth
                kinds = ", ".join(event.type.value for event in batch)
                log.warning("could not publish %s event(s) for job %s", kinds, self._job_id)
