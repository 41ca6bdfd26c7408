"""A running job's row, for tests that need one in a real database."""

from __future__ import annotations

import uuid

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus


def running_job(owner: str = "alice", progress: float = 40.0) -> Job:
    """A job of ``owner`` on its first attempt, ``progress`` done."""
    now = utcnow()
    return Job(
        id=str(uuid.uuid4()),
        workflow_id="icon_512",
        owner=owner,
        status=JobStatus.RUNNING,
        priority=JobPriority.NORMAL,
        inputs={},
        inputs_digest="0" * 64,
        created_at=now,
        queued_at=now,
        started_at=now,
        attempt=1,
        progress=progress,
    )
