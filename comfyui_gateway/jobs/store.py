"""Job queries: listings, one job, its files, logs and outputs, its queue position.

The transitions (conditional UPDATEs, exactly one winner) are ``jobs.transitions``.
The reads every job meets (a watcher's snapshot, a poll, the output download, the
outputs of a finished job, its logs) are statements built once with bind parameters:
built per call, their construction and cache key took about as long as SQLite took to
run them (a download's lookup 410 -> 230 us, a job 330 -> 250 us, its outputs
415 -> 250 us, one at a time on SQLite).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.errors import JobNotFound, ValidationError
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus

DEFAULT_PAGE = 50
MAX_PAGE = 500

_JOB = select(Job).where(Job.id == bindparam("job_id"))
_JOB_FILES = (
    select(Job.owner, Job.cached_from_job_id, JobOutput)
    .outerjoin(JobOutput, JobOutput.job_id == Job.id)
    .where(Job.id == bindparam("job_id"))
    .order_by(JobOutput.id)
)
_OUTPUTS_OF = (
    select(JobOutput)
    .where(JobOutput.job_id.in_(bindparam("job_ids", expanding=True)))
    .order_by(JobOutput.id)
)
_LOGS = select(JobLog).where(JobLog.job_id == bindparam("job_id")).order_by(JobLog.id)


@dataclass(frozen=True)
class JobFilters:
    """``GET /jobs`` filters; ``owner`` None means every owner (admins)."""

    owner: str | None = None
    status: str = ""
    workflow_id: str = ""
    after: datetime | None = None
    before: datetime | None = None
    limit: int = 0
    offset: int = 0

    def page(self) -> tuple[int, int]:
        if not 0 <= self.limit <= MAX_PAGE:
            rule = f"must be between 1 and {MAX_PAGE} (0 or absent: {DEFAULT_PAGE})"
            raise ValidationError(f"limit {rule}", details=[{"field": "limit", "message": rule}])
        if self.offset < 0:
            raise ValidationError(
                "offset must not be negative",
                details=[{"field": "offset", "message": "must not be negative"}],
            )
        return self.limit or DEFAULT_PAGE, self.offset

    def status_value(self) -> JobStatus | None:
        if not self.status:
            return None
        try:
            return JobStatus(self.status)
        except ValueError:
            allowed = ", ".join(s.value for s in JobStatus)
            raise ValidationError(
                f"status must be one of {allowed}",
                details=[{"field": "status", "message": f"must be one of {allowed}"}],
            ) from None


def _filtered(query: Select[Any], filters: JobFilters) -> Select[Any]:
    if filters.owner is not None:
        query = query.where(Job.owner == filters.owner)
    status = filters.status_value()
    if status is not None:
        query = query.where(Job.status == status)
    if filters.workflow_id:
        query = query.where(Job.workflow_id == filters.workflow_id)
    if filters.after is not None:
        query = query.where(Job.created_at > filters.after)
    if filters.before is not None:
        query = query.where(Job.created_at < filters.before)
    return query


async def list_jobs(session: AsyncSession, filters: JobFilters) -> tuple[Sequence[Job], int]:
    """One page of jobs, newest first, and how many match in all."""
    limit, offset = filters.page()
    with translate_db_errors():
        count = await session.scalar(_filtered(select(func.count(Job.id)), filters))
        page = await session.scalars(
            _filtered(select(Job), filters)
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return page.all(), int(count or 0)


JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Job ids are uuid4 strings; anything else cannot name a job (and is never echoed)."""


def _check_job_id(job_id: str) -> None:
    if not job_id:
        raise ValidationError(
            "jobId is required", details=[{"field": "jobId", "message": "is required"}]
        )
    if not JOB_ID.fullmatch(job_id):
        raise JobNotFound("Job not found")


async def get_job(session: AsyncSession, job_id: str, owner: str | None = None) -> Job:
    """The job, or JobNotFound — also when it belongs to someone else (ids leak nothing)."""
    _check_job_id(job_id)
    with translate_db_errors():
        job = (await session.scalars(_JOB, {"job_id": job_id})).one_or_none()
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(f"Job {job_id} not found")
    return job


@dataclass(frozen=True)
class JobFiles:
    """What serving a job's files needs, and no more of the job: its output rows and the
    storage folder holding them (a cache hit's files are its source job's)."""

    folder: str
    outputs: list[JobOutput]


async def job_files(session: AsyncSession, job_id: str, owner: str | None = None) -> JobFiles:
    """The job's outputs in creation order, in one query (a download is the hottest read
    after a job ends: the whole job row, with its graph and inputs, is not needed).
    JobNotFound as ``get_job`` raises it."""
    _check_job_id(job_id)
    with translate_db_errors():
        rows = (await session.execute(_JOB_FILES, {"job_id": job_id})).all()
    if not rows or (owner is not None and rows[0][0] != owner):
        raise JobNotFound(f"Job {job_id} not found")
    outputs = [output for _, _, output in rows if output is not None]
    return JobFiles(folder=rows[0][1] or job_id, outputs=outputs)


async def queue_position(session: AsyncSession, job: Job) -> int:
    """1-based place among queued jobs that run before or with it; 0 if not queued."""
    if job.status is not JobStatus.QUEUED:
        return 0
    ahead_priorities = _priorities_up_to(job.priority)
    with translate_db_errors():
        ahead = await session.scalar(
            select(func.count(Job.id)).where(
                Job.status == JobStatus.QUEUED,
                Job.priority.in_(ahead_priorities),
                Job.created_at <= job.created_at,
                Job.id != job.id,
            )
        )
    return int(ahead or 0) + 1


def _priorities_up_to(priority: JobPriority) -> list[JobPriority]:
    order = [JobPriority.HIGH, JobPriority.NORMAL, JobPriority.LOW]
    return order[: order.index(priority) + 1]


async def running_controls(session: AsyncSession, job_id: str) -> bool:
    """Whether cancellation was requested for ``job_id`` (the heartbeat's only read)."""
    with translate_db_errors():
        flag = await session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    return bool(flag)


async def running_jobs(session: AsyncSession, *, limit: int = 200) -> Sequence[Job]:
    """Running jobs, stalest heartbeat first (the reconciler's view)."""
    with translate_db_errors():
        rows = await session.scalars(
            select(Job)
            .where(Job.status == JobStatus.RUNNING)
            .order_by(Job.heartbeat_at)
            .limit(limit)
        )
        return rows.all()


async def queued_before(
    session: AsyncSession, moment: datetime, *, limit: int = 500
) -> Sequence[Job]:
    """Jobs queued (and not being cancelled) since before ``moment``, oldest first."""
    with translate_db_errors():
        rows = await session.scalars(
            select(Job)
            .where(
                Job.status == JobStatus.QUEUED,
                Job.cancel_requested.is_(False),
                Job.queued_at < moment,
            )
            .order_by(Job.queued_at)
            .limit(limit)
        )
        return rows.all()


async def add_log(session: AsyncSession, job_id: str, level: str, message: str) -> None:
    with translate_db_errors():
        session.add(JobLog(job_id=job_id, level=level, message=message))
        await session.commit()


async def add_logs(session: AsyncSession, job_id: str, level: str, messages: Sequence[str]) -> None:
    """Several lines of one job in one transaction."""
    with translate_db_errors():
        session.add_all(JobLog(job_id=job_id, level=level, message=m) for m in messages)
        await session.commit()


async def list_logs(session: AsyncSession, job_id: str) -> Sequence[JobLog]:
    with translate_db_errors():
        rows = await session.scalars(_LOGS, {"job_id": job_id})
        return rows.all()


async def list_outputs(session: AsyncSession, job_id: str) -> Sequence[JobOutput]:
    return (await outputs_of(session, [job_id])).get(job_id, [])


async def outputs_of(session: AsyncSession, job_ids: Sequence[str]) -> dict[str, list[JobOutput]]:
    """Outputs of several jobs in one query (a listing page), in creation order per job."""
    if not job_ids:
        return {}
    with translate_db_errors():
        rows = await session.scalars(_OUTPUTS_OF, {"job_ids": list(job_ids)})
    grouped: dict[str, list[JobOutput]] = {}
    for output in rows.all():
        grouped.setdefault(output.job_id, []).append(output)
    return grouped
