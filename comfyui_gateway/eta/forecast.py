"""When a job starts and ends, given what runs now and what waits ahead of it.

List scheduling over the slots (backends x MAX_CONCURRENCY): every slot is free when
its running job ends; each job ahead, in order, takes the slot that frees first. The
job itself starts when the next slot frees and ends one execution later.

A backlog is mostly runs of equal estimates (one workflow, the same inputs), and
those are placed a round at a time: once the slots free within one job's length of
each other, ``k`` such jobs give each of the ``k`` slots exactly one, in turn. So a
create behind thousands of waiting jobs costs a few steps per run, not one per job.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Sequence


def forecast(
    running_remaining: Sequence[float], ahead: Sequence[float], own: float, slots: int
) -> tuple[float, float]:
    """``(start, finish)`` in seconds from now.

    ``running_remaining``: seconds left of each running job (more running jobs than slots:
    the soonest-ending are taken); ``ahead``: execution seconds of each job ahead.
    """
    runs = ((seconds, sum(1 for _ in run)) for seconds, run in itertools.groupby(ahead))
    return forecast_runs(running_remaining, runs, own, slots)


def forecast_runs(
    running_remaining: Sequence[float],
    ahead: Iterable[tuple[float, int]],
    own: float,
    slots: int,
) -> tuple[float, float]:
    """``forecast`` with the jobs ahead given as runs ``(seconds, count)``, in order: a
    caller that knows a long tail is N jobs of one estimate passes it as one pair."""
    slots = max(1, slots)
    free = sorted(max(0.0, r) for r in running_remaining)[:slots]
    free += [0.0] * (slots - len(free))
    heapq.heapify(free)
    for seconds, count in ahead:
        if count > 0:
            _place(free, max(0.0, seconds), count)
    start = free[0]
    return start, start + max(0.0, own)


def _place(free: list[float], seconds: float, count: int) -> None:
    """``count`` jobs of ``seconds`` each, each on the slot (a min-heap of free times)
    that frees first: one at a time while the slots are further apart than one job,
    then whole rounds at once (each adds ``seconds`` to every slot, keeping the heap)."""
    while count and max(free) - free[0] > seconds:
        heapq.heapreplace(free, free[0] + seconds)
        count -= 1
    rounds, count = divmod(count, len(free))
    if rounds:
        free[:] = [slot + rounds * seconds for slot in free]
    for _ in range(count):
        heapq.heapreplace(free, free[0] + seconds)
