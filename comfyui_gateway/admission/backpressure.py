"""Back-pressure: refuse new work with 503 QUEUE_FULL once ``MAX_QUEUE_DEPTH`` waits.

``MAX_QUEUE_DEPTH`` (``admission.depth_limits``) is a total and/or per priority. The
check reads the queue's depth before anything is stored, so a refused create leaves
nothing behind. If the depth cannot be read (Redis down) the create is let through, as
it was before: its row is committed and the reconciler enqueues it. It is a soft limit
across replicas: creates that check at the same moment may overshoot it by their number.

Retry-After is how long the excess should take to drain: (jobs over the limit + 1)
/ the measured drain rate (jobs finished per second over the last two minutes), or
when nothing finished lately, the slots' service rate from measured execution times.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from comfyui_gateway.admission.depth_limits import DepthLimits
from comfyui_gateway.errors import QueueFull
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.metrics import Counters, catalogue

log = logging.getLogger("comfyui_gateway.admission")

FALLBACK_RETRY_S = 30
MAX_RETRY_S = 600

Rate = Callable[[], Awaitable[float]]


class QueueGate:
    """See the module docstring::

    gate = QueueGate(DepthLimits(total=500), queue, drain_rate=etas.drain_per_second)
    await gate.check(JobPriority.NORMAL)   # or QueueFull
    """

    def __init__(
        self,
        limits: DepthLimits,
        queue: JobQueue,
        *,
        drain_rate: Rate | None = None,
        service_rate: Rate | None = None,
        counters: Counters | None = None,
    ) -> None:
        self._limits = limits
        self._queue = queue
        self._drain_rate = drain_rate
        self._service_rate = service_rate
        self._counters = counters

    async def check(self, priority: JobPriority) -> None:
        if not self._limits.enabled:
            return
        try:
            depth = await self._queue.depth()
        except Exception:  # the queue's outage is the reconciler's to mend, not the caller's
            log.warning("queue depth unknown, job let through", exc_info=True)
            return
        excess = self._limits.excess(depth, priority)
        if excess <= 0:
            return
        if self._counters is not None:
            labels = {"reason": "queue_full"}
            await self._counters.increment(catalogue.ADMISSION_REJECTIONS.name, labels)
        retry_s = await self._retry_after_s(excess)
        waiting = sum(depth.values())
        raise QueueFull(
            f"The job queue is full ({waiting} waiting); retry after {retry_s} s",
            retry_after_s=retry_s,
            details={"queued": waiting, "priority": priority.value},
        )

    async def _retry_after_s(self, excess: int) -> int:
        for rate in (self._drain_rate, self._service_rate):
            per_second = await rate() if rate is not None else 0.0
            if per_second > 0:
                return min(MAX_RETRY_S, max(1, math.ceil(excess / per_second)))
        return FALLBACK_RETRY_S
