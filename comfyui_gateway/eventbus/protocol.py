"""What every event bus offers, and the one error a bus raises.

Workers publish a job's events; servers subscribe on behalf of their clients. Two
implementations: ``MemoryEventBus`` (embedded single-process mode) and
``RedisEventBus`` (Redis pub/sub, one connection per server process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from comfyui_gateway.errors import GatewayError
from comfyui_gateway.eventbus.subscription import Subscription
from comfyui_gateway.events import JobEvent


class EventBusUnavailable(GatewayError):
    """Raised when the bus cannot reach its broker: a publish failed, or a subscription
    could not be confirmed in time. Live events are best effort (the database is the
    source of truth), so callers log this and carry on rather than fail the job.
    """

    default_message = "Live job events are unavailable"


class EventBus(Protocol):
    """Fan-out of job events to every subscriber of the job, in publish order per job."""

    async def publish(self, event: JobEvent) -> None:
        """Deliver ``event`` to the current subscribers of ``event.job_id``.

        Never waits for subscribers (slow ones lose old non-terminal events instead).
        Raises ``EventBusUnavailable`` when the broker is unreachable, ``RuntimeError``
        after ``close()``.
        """
        ...

    async def publish_many(self, events: Sequence[JobEvent]) -> None:
        """``publish`` each of ``events`` in order, in as few broker round trips as it can."""
        ...

    def subscribe(self, job_id: str) -> Subscription:
        """A subscription to ``job_id``, registered once its ``async with`` is entered."""
        ...

    async def close(self) -> None:
        """End every subscription's iteration and release tasks and connections.

        Idempotent. The bus is unusable afterwards; a Redis client handed in stays open
        (its owner closes it).
        """
        ...
