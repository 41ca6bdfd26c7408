"""The states a job moves through, named once for the database, the API and the worker.

    queued ──▶ running ──▶ succeeded
       │          ├──────▶ failed
       └──────────┴──────▶ cancelled

``cache_hit`` is not a state: it only appears in the create-job response, and the job it
points at reads ``succeeded``.
"""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    """A job's lifecycle state, stored as its lower-case value."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True once nothing can change the job's outcome any more."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
)
