"""Job queries and state transitions: the database is the source of truth.

Every transition is one conditional UPDATE (``WHERE status = ... AND attempt = ...``)
whose row count says whether this caller won: a late or duplicate worker loses
cleanly instead of overwriting a finished job (DESIGN.md "Exactly one finisher").
The winner of a terminal transition also writes the job's first webhook delivery row
in the same transaction (the outbox), so no finished job can miss its webhook.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, Select, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.cache.store import remember_job
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.types import UTCDateTime, utcnow
from comfyui_gateway.errors import JobNotFound, ValidationError
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.webhooks.outbox import add_first_attempt

DEFAULT_PAGE = 50
MAX_PAGE = 500


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
        job = await session.get(Job, job_id)
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
        rows = (
            await session.execute(
                select(Job.owner, Job.cached_from_job_id, JobOutput)
                .outerjoin(JobOutput, JobOutput.job_id == Job.id)
                .where(Job.id == job_id)
                .order_by(JobOutput.id)
            )
        ).all()
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


async def _transition(
    session: AsyncSession, job_id: str, where: Sequence[Any], values: dict[str, Any]
) -> bool:
    """Apply ``values`` if the row still matches ``where``; True when this caller won."""
    with translate_db_errors():
        won = await _conditional_update(session, job_id, where, values)
        if won and _is_terminal(values):
            await add_first_attempt(session, job_id)
        await session.commit()
    return won


def _is_terminal(values: dict[str, Any]) -> bool:
    status = values.get("status")
    return isinstance(status, JobStatus) and status.is_terminal


async def _conditional_update(
    session: AsyncSession, job_id: str, where: Sequence[Any], values: dict[str, Any]
) -> bool:
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, *where)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(isinstance(result, CursorResult) and result.rowcount == 1)


async def mark_running(
    session: AsyncSession, job_id: str, *, attempt: int, worker_id: str, backend_url: str
) -> bool:
    """queued (at ``attempt``) -> running (at ``attempt + 1``)."""
    return await _transition(
        session,
        job_id,
        [Job.status == JobStatus.QUEUED, Job.attempt == attempt, Job.cancel_requested.is_(False)],
        {
            "status": JobStatus.RUNNING,
            "attempt": attempt + 1,
            "worker_id": worker_id,
            "backend_url": backend_url,
            "started_at": utcnow(),
            "heartbeat_at": utcnow(),
            "error": None,
            "error_code": None,
        },
    )


_CLAIM_NOW = bindparam("claim_now", type_=UTCDateTime())
_CLAIM_QUEUED = (
    update(Job)
    .where(
        Job.id == bindparam("claim_id"),
        Job.status == JobStatus.QUEUED,
        Job.cancel_requested.is_(False),
    )
    .values(
        status=JobStatus.RUNNING,
        attempt=Job.attempt + 1,
        worker_id=bindparam("claim_worker"),
        backend_url=bindparam("claim_backend"),
        started_at=_CLAIM_NOW,
        heartbeat_at=_CLAIM_NOW,
        updated_at=_CLAIM_NOW,
        error=None,
        error_code=None,
    )
    .returning(Job)
    .execution_options(synchronize_session=False)
)
"""Built once: building it took ~0.4 ms, on every job."""


async def claim_queued(
    session: AsyncSession, job_id: str, *, worker_id: str, backend_url: str
) -> Job | None:
    """queued -> running (attempt + 1) in one ``UPDATE ... RETURNING``; the job if won.

    The same conditional transition as ``mark_running`` without reading the row first:
    the attempt is bumped by the statement itself, so two claimers still cannot both win.
    The transaction is left open so the caller can read more in it (then commit).
    """
    values = {
        "claim_id": job_id,
        "claim_worker": worker_id,
        "claim_backend": backend_url,
        "claim_now": utcnow(),
    }
    with translate_db_errors():
        job: Job | None = (await session.scalars(_CLAIM_QUEUED, values)).one_or_none()
    return job


async def running_controls(session: AsyncSession, job_id: str) -> bool:
    """Whether cancellation was requested for ``job_id`` (the heartbeat's only read)."""
    with translate_db_errors():
        flag = await session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    return bool(flag)


async def record_running_batch(
    session: AsyncSession,
    job_id: str,
    *,
    attempt: int,
    values: dict[str, Any],
    lines: Sequence[tuple[str, str]],
) -> bool:
    """A running job's state (if still this attempt's) and log lines, in one transaction.

    The lines are written whatever the state (as ``add_logs`` does): they describe what
    this attempt did, even when it lost the job meanwhile.
    """
    with translate_db_errors():
        won = True
        if values:
            where = [Job.status == JobStatus.RUNNING, Job.attempt == attempt]
            won = await _conditional_update(session, job_id, where, values)
        if lines:
            await session.execute(insert(JobLog), _log_rows(job_id, lines))
        await session.commit()
    return won


def _log_rows(job_id: str, lines: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Rows for one multi-row INSERT (Core: no ORM objects to build and flush)."""
    return [{"job_id": job_id, "level": level, "message": message} for level, message in lines]


async def record_running_state(
    session: AsyncSession, job_id: str, *, attempt: int, **values: Any
) -> bool:
    """Progress, prompt id or heartbeat of a running job, if it is still this attempt's."""
    return await _transition(
        session,
        job_id,
        [Job.status == JobStatus.RUNNING, Job.attempt == attempt],
        {"heartbeat_at": utcnow(), **values},
    )


async def finish(
    session: AsyncSession,
    job_id: str,
    *,
    attempt: int,
    status: JobStatus,
    error: dict[str, Any] | None = None,
) -> bool:
    """running (this attempt) -> a terminal status. Exactly one caller can win."""
    values: dict[str, Any] = {"status": status, "completed_at": utcnow()}
    if status is JobStatus.SUCCEEDED:
        values["progress"] = 100.0
    if error is not None:
        values.update(error=error, error_code=error.get("code"))
    return await _transition(
        session, job_id, [Job.status == JobStatus.RUNNING, Job.attempt == attempt], values
    )


async def succeed_with_outputs(
    session: AsyncSession,
    job_id: str,
    *,
    attempt: int,
    outputs: Sequence[JobOutput],
    log_lines: Sequence[str] = (),
    earlier_lines: Sequence[tuple[str, str]] = (),
    extra_values: dict[str, Any] | None = None,
    has_callback: bool | None = None,
    cache_ttl_s: int = 0,
    before_commit: Callable[[], Awaitable[None]] | None = None,
) -> bool:
    """running (this attempt) -> succeeded and its outputs recorded, in one transaction.

    A caller that lost the race records nothing, so a job's outputs exist exactly once.
    ``log_lines`` land in the same transaction: whoever sees ``succeeded`` sees them too,
    after ``earlier_lines`` ((level, message) the runner had not written yet) and with
    ``extra_values`` (running state not written yet, e.g. the prompt id).
    ``has_callback`` False (the caller read the job: no callback URL, which never
    changes after submission) skips the outbox statement that would insert nothing.
    ``cache_ttl_s`` > 0 writes the job's cache entry (if it was submitted cacheable) in
    the same transaction. ``before_commit`` runs after the statements, before the
    commit (the worker waits there for its files to be durable); if it raises, nothing
    is committed.
    """
    values = {
        **(extra_values or {}),
        "status": JobStatus.SUCCEEDED,
        "completed_at": utcnow(),
        "progress": 100.0,
    }
    where = [Job.status == JobStatus.RUNNING, Job.attempt == attempt]
    lines = [*earlier_lines, *(("info", line) for line in log_lines)]
    with translate_db_errors():
        if not await _conditional_update(session, job_id, where, values):
            await session.rollback()
            return False
        session.add_all(outputs)
        if lines:
            await session.execute(insert(JobLog), _log_rows(job_id, lines))
        if has_callback is not False:
            await add_first_attempt(session, job_id)
        if cache_ttl_s > 0:
            await remember_job(session, job_id, ttl_s=cache_ttl_s)
        if outputs:
            await session.flush()  # the output rows are sent before the wait below
        if before_commit is not None:
            await before_commit()
        await session.commit()
    return True


async def claim_abandoned(
    session: AsyncSession, job_id: str, *, attempt: int, stale_before: datetime, claimer: str
) -> bool:
    """Take over a running job whose heartbeat is older than ``stale_before``.

    Refreshes the heartbeat, so one claimer acts per staleness period and a worker that
    was only slow (its next heartbeat lands after this) keeps its own run: whoever
    finishes first wins the terminal transition, the other loses it cleanly.
    """
    return await _transition(
        session,
        job_id,
        [
            Job.status == JobStatus.RUNNING,
            Job.attempt == attempt,
            (Job.heartbeat_at.is_(None)) | (Job.heartbeat_at < stale_before),
        ],
        {"heartbeat_at": utcnow(), "worker_id": claimer},
    )


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


async def requeue(session: AsyncSession, job_id: str, *, attempt: int) -> bool:
    """running (this attempt) -> queued, for a retry; the attempt count is kept."""
    return await _transition(
        session,
        job_id,
        [Job.status == JobStatus.RUNNING, Job.attempt == attempt],
        {"status": JobStatus.QUEUED, "queued_at": utcnow(), "worker_id": None},
    )


async def cancel_queued(session: AsyncSession, job_id: str) -> bool:
    """queued -> cancelled, before any worker took it."""
    return await _transition(
        session,
        job_id,
        [Job.status == JobStatus.QUEUED],
        {"status": JobStatus.CANCELLED, "cancel_requested": True, "completed_at": utcnow()},
    )


async def request_cancel(session: AsyncSession, job_id: str) -> bool:
    """Flag a running job so its worker interrupts ComfyUI and ends it ``cancelled``."""
    return await _transition(
        session, job_id, [Job.status == JobStatus.RUNNING], {"cancel_requested": True}
    )


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
        rows = await session.scalars(
            select(JobLog).where(JobLog.job_id == job_id).order_by(JobLog.id)
        )
        return rows.all()


async def list_outputs(session: AsyncSession, job_id: str) -> Sequence[JobOutput]:
    return (await outputs_of(session, [job_id])).get(job_id, [])


async def outputs_of(session: AsyncSession, job_ids: Sequence[str]) -> dict[str, list[JobOutput]]:
    """Outputs of several jobs in one query (a listing page), in creation order per job."""
    if not job_ids:
        return {}
    with translate_db_errors():
        rows = await session.scalars(
            select(JobOutput).where(JobOutput.job_id.in_(job_ids)).order_by(JobOutput.id)
        )
    grouped: dict[str, list[JobOutput]] = {}
    for output in rows.all():
        grouped.setdefault(output.job_id, []).append(output)
    return grouped
