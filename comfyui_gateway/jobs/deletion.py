"""Removing finished jobs: rows first (one transaction), then the files nobody else uses.

Used by ``DELETE /jobs/{jobId}`` and by retention. The rules:

- only a finished job goes: a queued or running one answers 409 CONFLICT (cancel it
  first), so a worker never stores files for a job that no longer exists;
- the row is removed with a conditional DELETE (``status`` still terminal); logs,
  outputs, webhook deliveries, cache entries and idempotency keys follow by cascade;
- a file is deleted only when no remaining output row references it. Cache hits
  point at an earlier job's files instead of copying them, so deleting the earlier
  job keeps the files the later one serves, and deleting the last user removes them.

Files go after the commit: a crash in between leaves an unreferenced file (logged),
never a listed output whose file is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.db.queries.audit import OUTCOME_FAILURE, OUTCOME_SUCCESS, AuditLog
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.errors import Conflict, GatewayError
from comfyui_gateway.jobs import store
from comfyui_gateway.jobs.status import TERMINAL_STATUSES
from comfyui_gateway.storage.base import Storage, StorageError

log = logging.getLogger("comfyui_gateway.jobs.deletion")

ACTION_DELETE = "job.delete"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file in the store: ``<folder>/<stored_name>``."""

    folder: str
    stored_name: str


async def _unshared_files(session: AsyncSession, job: Job) -> list[StoredFile]:
    """The job's files that no other job's output rows reference."""
    outputs = await store.list_outputs(session, job.id)
    if not outputs:
        return []
    paths = {output.storage_path for output in outputs}
    shared = set(
        await session.scalars(
            select(JobOutput.storage_path).where(
                JobOutput.storage_path.in_(paths), JobOutput.job_id != job.id
            )
        )
    )
    folder = job.cached_from_job_id or job.id
    return [
        StoredFile(folder, output.stored_name)
        for output in outputs
        if output.storage_path not in shared
    ]


async def remove_rows(session: AsyncSession, job: Job) -> list[StoredFile] | None:
    """Delete a finished job's row (and dependents); the files now free, or None when
    the job is not finished (any more). The caller commits."""
    files = await _unshared_files(session, job)
    with translate_db_errors():
        result = await session.execute(
            delete(Job).where(Job.id == job.id, Job.status.in_(list(TERMINAL_STATUSES)))
        )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return files


async def remove_files(storage: Storage, files: Sequence[StoredFile]) -> int:
    """Delete ``files``; failures are logged (the rows are gone either way)."""
    removed = 0
    for item in files:
        try:
            await storage.delete(item.folder, item.stored_name)
            removed += 1
        except StorageError as exc:
            log.warning("could not delete %s/%s: %s", item.folder, item.stored_name, exc)
    return removed


class JobDeleter:
    """The ``DELETE /jobs/{jobId}`` use case: owner or admin, audited, files removed."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], storage: Storage) -> None:
        self._sessions = sessions
        self._storage = storage

    async def delete(self, job_id: str, owner: str | None, actor: str) -> None:
        """Remove the job; JobNotFound (also for another user's job), or Conflict."""
        try:
            files = await self._delete_rows(job_id, owner, actor)
        except GatewayError as exc:
            await self._audit_failure(job_id, actor, exc)
            raise
        await remove_files(self._storage, files)

    async def _delete_rows(self, job_id: str, owner: str | None, actor: str) -> list[StoredFile]:
        async with self._sessions() as session, session.begin():
            job = await store.get_job(session, job_id, owner)
            if not job.status.is_terminal:
                raise Conflict(
                    f"Job {job_id} is {job.status.value}: cancel it first, then delete it"
                )
            files = await remove_rows(session, job)
            if files is None:
                raise Conflict(f"Job {job_id} changed state; try again")
            details = {"files": len(files), "owner": job.owner}
            await AuditLog.record(session, actor, ACTION_DELETE, job_id, OUTCOME_SUCCESS, details)
        return files

    async def _audit_failure(self, job_id: str, actor: str, exc: GatewayError) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await AuditLog.record(
                    session,
                    actor,
                    ACTION_DELETE,
                    job_id if store.JOB_ID.match(job_id) else "(invalid id)",
                    OUTCOME_FAILURE,
                    {"error": exc.code.value},
                )
        except GatewayError:
            log.warning("could not audit a failed delete of job %s", job_id[:64])
