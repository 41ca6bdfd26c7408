"""Job priorities: the three RQ queues a job can wait in."""

from __future__ import annotations

import enum


class JobPriority(enum.StrEnum):
    """How soon a queued job should run; workers drain high, then normal, then low."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


PRIORITY_ORDER: tuple[JobPriority, ...] = (JobPriority.HIGH, JobPriority.NORMAL, JobPriority.LOW)
"""Workers drain queues in this order."""
