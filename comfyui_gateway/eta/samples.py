"""What the database says about recent work: execution samples and the drain rate.

Only jobs that ran count (``started_at`` set, not served from the cache). The newest
``MAX_SAMPLES`` within ``SAMPLE_WINDOW`` feed the estimator, so it follows a change
of hardware or load within minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.eta.estimator import Sample
from comfyui_gateway.eta.work import work_units
from comfyui_gateway.jobs.status import JobStatus

MAX_SAMPLES = 500
SAMPLE_WINDOW = timedelta(hours=6)
DRAIN_WINDOW = timedelta(seconds=120)


def _ran() -> list[ColumnElement[bool]]:
    return [Job.started_at.is_not(None), Job.cached_from_job_id.is_(None)]


async def recent_samples(session: AsyncSession, now: datetime | None = None) -> list[Sample]:
    """Succeeded jobs' execution seconds (started -> completed), newest first."""
    since = (now or utcnow()) - SAMPLE_WINDOW
    rows = await session.execute(
        select(Job.workflow_id, Job.inputs, Job.started_at, Job.completed_at)
        .where(Job.status == JobStatus.SUCCEEDED, Job.completed_at > since, *_ran())
        .order_by(Job.completed_at.desc())
        .limit(MAX_SAMPLES)
    )
    return [
        Sample(workflow_id, work_units(inputs), (completed - started).total_seconds())
        for workflow_id, inputs, started, completed in rows.all()
        if started is not None and completed is not None
    ]


async def drain_rate(session: AsyncSession, now: datetime | None = None) -> float:
    """Jobs that finished (any terminal status, after running) per second, recently."""
    since = (now or utcnow()) - DRAIN_WINDOW
    finished: int | None = await session.scalar(
        select(func.count(Job.id)).where(
            Job.status.in_([JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]),
            Job.completed_at > since,
            *_ran(),
        )
    )
    return int(finished or 0) / DRAIN_WINDOW.total_seconds()
