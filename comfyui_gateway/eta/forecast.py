"""When a job starts and ends, given what runs now and what waits ahead of it.

List scheduling over the slots (backends x MAX_CONCURRENCY): every slot is free when
its running job ends; each job ahead, in order, takes the slot that frees first. The
job itself starts when the next slot frees and ends one execution later.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def forecast(
    running_remaining: Sequence[float], ahead: Sequence[float], own: float, slots: int
) -> tuple[float, float]:
    """``(start, finish)`` in seconds from now.

    ``running_remaining``: seconds left of each running job (more running jobs than slots:
    the soonest-ending are taken); ``ahead``: execution seconds of each job ahead.
    """
    slots = max(1, slots)
    free = sorted(max(0.0, r) for r in running_remaining)[:slots]
    free += [0.0] * (slots - len(free))
    heapq.heapify(free)
    for seconds in ahead:
        heapq.heappush(free, heapq.heappop(free) + max(0.0, seconds))
    start = free[0]
    return start, start + max(0.0, own)
