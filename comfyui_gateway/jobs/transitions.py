"""Job state transitions: the database is the source of truth.

Every transition is one conditional UPDATE (``WHERE status = ... AND attempt = ...``)
whose row count says whether this caller won: a late or duplicate worker loses
cleanly instead of overwriting a finished job (DESIGN.md "Exactly one finisher").
The winner of a terminal transition also writes the job's first webhook delivery row
in the same transaction (the outbox), so no finished job can miss its webhook.

The UPDATE statements are built once per (guard, set of columns written) with bind
parameters: every job runs several, and building one (``update().where().values()``)
cost more on this machine than SQLite took to run it.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Update, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.cache.store import remember_job
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.db.plain_insert import insert_many
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.types import UTCDateTime, utcnow
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.webhooks.outbox import add_first_attempt


class Guard(enum.Enum):
    """What the row must still be for a transition to win (bind parameters:
    ``guard_attempt``, ``guard_stale_before``)."""

    QUEUED = "queued"
    QUEUED_AT_ATTEMPT_NOT_CANCELLING = "queued at attempt, not cancelling"
    RUNNING = "running"
    RUNNING_AT_ATTEMPT = "running at attempt"
    RUNNING_AT_ATTEMPT_STALE = "running at attempt, heartbeat stale"


def _guard_clauses(guard: Guard) -> tuple[ColumnElement[bool], ...]:
    attempt = Job.attempt == bindparam("guard_attempt")
    stale = Job.heartbeat_at.is_(None) | (
        Job.heartbeat_at < bindparam("guard_stale_before", type_=UTCDateTime())
    )
    queued, running = Job.status == JobStatus.QUEUED, Job.status == JobStatus.RUNNING
    clauses: dict[Guard, tuple[ColumnElement[bool], ...]] = {
        Guard.QUEUED: (queued,),
        Guard.QUEUED_AT_ATTEMPT_NOT_CANCELLING: (
            queued,
            attempt,
            Job.cancel_requested.is_(False),
        ),
        Guard.RUNNING: (running,),
        Guard.RUNNING_AT_ATTEMPT: (running, attempt),
        Guard.RUNNING_AT_ATTEMPT_STALE: (running, attempt, stale),
    }
    return clauses[guard]


@functools.cache
def _conditional_statement(guard: Guard, columns: tuple[str, ...]) -> Update:
    """``UPDATE jobs SET <columns> WHERE id = :job_id AND <guard>``, built once."""
    table = Job.__table__
    values = {name: bindparam(f"set_{name}", type_=table.c[name].type) for name in columns}
    return (
        update(Job)
        .where(Job.id == bindparam("job_id"), *_guard_clauses(guard))
        .values(values)
        .execution_options(synchronize_session=False)
    )


async def _conditional_update(
    session: AsyncSession,
    job_id: str,
    guard: Guard,
    values: dict[str, Any],
    **guard_params: Any,
) -> bool:
    """Write ``values`` (and ``updated_at``) if the row still matches ``guard``."""
    values = {"updated_at": utcnow(), **values}
    statement = _conditional_statement(guard, tuple(values))
    params = {"job_id": job_id, **guard_params}
    params.update((f"set_{name}", value) for name, value in values.items())
    result = await session.execute(statement, params)
    return bool(isinstance(result, CursorResult) and result.rowcount == 1)


async def _transition(
    session: AsyncSession,
    job_id: str,
    guard: Guard,
    values: dict[str, Any],
    **guard_params: Any,
) -> bool:
    """Apply ``values`` if the row still matches ``guard``; True when this caller won."""
    with translate_db_errors():
        won = await _conditional_update(session, job_id, guard, values, **guard_params)
        if won and _is_terminal(values):
            await add_first_attempt(session, job_id)
        await session.commit()
    return won


def _is_terminal(values: dict[str, Any]) -> bool:
    status = values.get("status")
    return isinstance(status, JobStatus) and status.is_terminal


async def mark_running(
    session: AsyncSession, job_id: str, *, attempt: int, worker_id: str, backend_url: str
) -> bool:
    """queued (at ``attempt``) -> running (at ``attempt + 1``)."""
    now = utcnow()
    return await _transition(
        session,
        job_id,
        Guard.QUEUED_AT_ATTEMPT_NOT_CANCELLING,
        {
            "status": JobStatus.RUNNING,
            "attempt": attempt + 1,
            "worker_id": worker_id,
            "backend_url": backend_url,
            "started_at": now,
            "heartbeat_at": now,
            "error": None,
            "error_code": None,
        },
        guard_attempt=attempt,
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


async def record_running_batch(
    session: AsyncSession,
    job_id: str,
    *,
    attempt: int,
    values: dict[str, Any],
    lines: Sequence[tuple[str, str]],
) -> bool:
    """A running job's state (if still this attempt's) and log lines, in one transaction.

    The lines are written whatever the state (as ``store.add_logs`` does): they describe
    what this attempt did, even when it lost the job meanwhile.
    """
    with translate_db_errors():
        won = True
        if values:
            won = await _conditional_update(
                session, job_id, Guard.RUNNING_AT_ATTEMPT, values, guard_attempt=attempt
            )
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
        Guard.RUNNING_AT_ATTEMPT,
        {"heartbeat_at": utcnow(), **values},
        guard_attempt=attempt,
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
        session, job_id, Guard.RUNNING_AT_ATTEMPT, values, guard_attempt=attempt
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
    lines = [*earlier_lines, *(("info", line) for line in log_lines)]
    with translate_db_errors():
        won = await _conditional_update(
            session, job_id, Guard.RUNNING_AT_ATTEMPT, values, guard_attempt=attempt
        )
        if not won:
            await session.rollback()
            return False
        # Sent now, before the wait for the files below; plain INSERTs, nothing read back.
        await insert_many(session, outputs)
        if lines:
            await session.execute(insert(JobLog), _log_rows(job_id, lines))
        if has_callback is not False:
            await add_first_attempt(session, job_id)
        if cache_ttl_s > 0:
            await remember_job(session, job_id, ttl_s=cache_ttl_s)
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
        Guard.RUNNING_AT_ATTEMPT_STALE,
        {"heartbeat_at": utcnow(), "worker_id": claimer},
        guard_attempt=attempt,
        guard_stale_before=stale_before,
    )


async def requeue(session: AsyncSession, job_id: str, *, attempt: int) -> bool:
    """running (this attempt) -> queued, for a retry; the attempt count is kept."""
    return await _transition(
        session,
        job_id,
        Guard.RUNNING_AT_ATTEMPT,
        {"status": JobStatus.QUEUED, "queued_at": utcnow(), "worker_id": None},
        guard_attempt=attempt,
    )


async def cancel_queued(session: AsyncSession, job_id: str) -> bool:
    """queued -> cancelled, before any worker took it."""
    return await _transition(
        session,
        job_id,
        Guard.QUEUED,
        {"status": JobStatus.CANCELLED, "cancel_requested": True, "completed_at": utcnow()},
    )


async def request_cancel(session: AsyncSession, job_id: str) -> bool:
    """Flag a running job so its worker interrupts ComfyUI and ends it ``cancelled``."""
    return await _transition(session, job_id, Guard.RUNNING, {"cancel_requested": True})
