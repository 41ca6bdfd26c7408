"""``JOB_RETENTION_DAYS``: finished jobs older than that go, with the files only they use.

A sweep picks up to ``batch`` finished jobs completed before the cutoff (oldest first)
and removes each one as ``DELETE /jobs/{jobId}`` does (``jobs.deletion``): rows by
conditional DELETE, then the files no remaining output references. Several processes
may sweep at once: the conditional DELETE lets exactly one of them remove a job and
its files. After the jobs, the optional ``InputJanitor`` removes stored input files no
job references any more (inputs are content-addressed and shared between jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.jobs.deletion import remove_files, remove_rows
from comfyui_gateway.jobs.status import TERMINAL_STATUSES
from comfyui_gateway.storage.base import Storage

log = logging.getLogger("comfyui_gateway.jobs.retention")

DEFAULT_BATCH = 100


class InputJanitor(Protocol):
    """Removes stored inputs that no job references (the media-in side provides it)."""

    async def sweep_unreferenced(self) -> int:
        """Delete unreferenced inputs; how many were removed."""
        ...


class RetentionSweeper:
    """Periodic retention sweeps; ``start()`` loops every ``interval_s``, ``sweep()`` once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        *,
        retention_days: int,
        interval_s: float,
        batch: int = DEFAULT_BATCH,
        inputs: InputJanitor | None = None,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._retention = timedelta(days=retention_days)
        self._enabled = retention_days > 0
        self._interval_s = interval_s
        self._batch = batch
        self._inputs = inputs
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._enabled:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                removed = await self.sweep()
                if removed:
                    log.info("retention removed %d job(s)", removed)
            except Exception:  # a failed sweep (database down) is retried next time
                log.exception("retention sweep failed")
            await asyncio.sleep(self._interval_s)

    async def sweep(self) -> int:
        """Remove one batch of expired jobs (then unreferenced inputs); jobs removed."""
        if not self._enabled:
            return 0
        cutoff = utcnow() - self._retention
        async with self._sessions() as session:
            expired = (
                await session.scalars(
                    select(Job.id)
                    .where(
                        Job.status.in_(list(TERMINAL_STATUSES)),
                        Job.created_at < cutoff,
                        Job.completed_at < cutoff,
                    )
                    .order_by(Job.created_at)
                    .limit(self._batch)
                )
            ).all()
        removed = 0
        for job_id in expired:
            if await self._remove(job_id):
                removed += 1
        if self._inputs is not None:
            await self._inputs.sweep_unreferenced()
        return removed

    async def _remove(self, job_id: str) -> bool:
        async with self._sessions() as session, session.begin():
            job = await session.get(Job, job_id)
            files = await remove_rows(session, job) if job is not None else None
        if files is None:
            return False
        await remove_files(self._storage, files)
        return True
