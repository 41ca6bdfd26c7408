"""Names shared across processes, in one place: Redis keys, queues, channels."""

from __future__ import annotations

REDIS_PREFIX = "cgw"

BACKEND_REPORTS_KEY = f"{REDIS_PREFIX}:backends"
"""Hash: backend URL -> JSON BackendReport, written by workers, read by servers."""

BACKEND_REPORT_TTL_S = 30
"""A report older than this counts as 'no worker is watching that backend'."""


def job_events_channel(job_id: str) -> str:
    """Pub/sub channel carrying one job's live events."""
    return f"{REDIS_PREFIX}:job-events:{job_id}"


def queue_name(priority: str) -> str:
    """RQ queue for one priority; workers listen high, normal, low in that order."""
    return f"{REDIS_PREFIX}-{priority}"
