"""Names shared across processes, in one place: Redis keys, queues, channels.

Every name starts with a namespace (``REDIS_NAMESPACE``, default ``cgw``) so several
gateways, or parallel test runs, can share one Redis.
"""

from __future__ import annotations

DEFAULT_NAMESPACE = "cgw"

BACKEND_REPORT_TTL_S = 30
"""A report older than this counts as 'no worker is watching that backend'."""


def backend_reports_key(namespace: str = DEFAULT_NAMESPACE) -> str:
    """Hash: backend URL -> JSON BackendReport, written by workers, read by servers."""
    return f"{namespace}:backends"


def backend_catalogues_key(namespace: str = DEFAULT_NAMESPACE) -> str:
    """Hash: backend URL -> that backend's raw ``/object_info`` JSON."""
    return f"{namespace}:catalogues"


def job_events_channel(job_id: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """Pub/sub channel carrying one job's live events."""
    return f"{namespace}:job-events:{job_id}"


def queue_name(priority: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """RQ queue for one priority; workers listen high, normal, low in that order."""
    return f"{namespace}-{priority}"


def rate_limit_key(bucket_digest: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """Counter of one rate-limit bucket's current window (expires with the window)."""
    return f"{namespace}:ratelimit:{bucket_digest}"


def reconciler_lock_key(namespace: str = DEFAULT_NAMESPACE) -> str:
    """String with a TTL: which process runs the reconciler now (one at a time)."""
    return f"{namespace}:reconciler-lock"


def counters_key(namespace: str = DEFAULT_NAMESPACE) -> str:
    """Hash: metric series (name plus labels) -> count, for figures that exist only as
    events (rate-limit rejections, auth failures); every replica adds to and reads it."""
    return f"{namespace}:counters"


def quota_active_key(caller_digest: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """Sorted set: one caller's active job ids (queued or running), scored by admission ms."""
    return f"{namespace}:quota:active:{caller_digest}"


def quota_daily_key(caller_digest: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """Sorted set: one caller's job ids admitted in the last 24 h, scored by admission ms."""
    return f"{namespace}:quota:daily:{caller_digest}"


def queue_entries_key(namespace: str = DEFAULT_NAMESPACE) -> str:
    """Hash: job id -> JSON queue entry (priority, owner, models, queued_at) of a job
    waiting in an RQ queue; the scheduler reads it to choose, the claim deletes it."""
    return f"{namespace}:queue-entries"


def residency_key(namespace: str = DEFAULT_NAMESPACE) -> str:
    """Hash: backend URL -> JSON list of its recent jobs' model sets (what it holds)."""
    return f"{namespace}:residency"


def served_key(namespace: str = DEFAULT_NAMESPACE) -> str:
    """Sorted set: owner -> turn at which a job of theirs was last taken (fairness)."""
    return f"{namespace}:served"


def turn_key(namespace: str = DEFAULT_NAMESPACE) -> str:
    """Counter: the turn number the next claimed job gets."""
    return f"{namespace}:turn"


def queue_wake_channel(namespace: str = DEFAULT_NAMESPACE) -> str:
    """Pub/sub channel: something was enqueued; idle workers look again."""
    return f"{namespace}:queue-wake"
