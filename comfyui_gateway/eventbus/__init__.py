"""The job event bus: workers publish a job's events, servers stream them to watchers.

Two implementations of one ``EventBus`` protocol: ``MemoryEventBus`` for the embedded
single-process mode, ``RedisEventBus`` (Redis pub/sub, one connection per process)
when servers and workers are separate processes.

Usage::

    async with bus.subscribe(job_id) as events:   # registered from here on
        job = await read_job(job_id)              # current state, then live events
        async for event in events:                # ends after the TERMINAL event
            ...
"""

from __future__ import annotations

from comfyui_gateway.eventbus.memory import MemoryEventBus
from comfyui_gateway.eventbus.protocol import EventBus, EventBusUnavailable
from comfyui_gateway.eventbus.queue import DEFAULT_QUEUE_SIZE, EventQueue
from comfyui_gateway.eventbus.redis import RedisEventBus
from comfyui_gateway.eventbus.subscription import Subscription

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "EventBus",
    "EventBusUnavailable",
    "EventQueue",
    "MemoryEventBus",
    "RedisEventBus",
    "Subscription",
]
