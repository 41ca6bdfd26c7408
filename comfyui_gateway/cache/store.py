"""The result cache in the database: a key names the succeeded job that answers it.

Entries are written by whoever finishes a job successfully (the runner, or recovery
collecting a prompt a dead worker left behind), only for jobs that were cacheable
when submitted (``jobs.cache_key`` set). A lookup only returns a job that still reads
``succeeded`` and an entry that has not expired; expired rows are overwritten by the
next success with that key.

Usage::

    hit = await lookup(session, key)          # CacheHit(job, outputs) or None
    await remember(session, key, job_id, ttl_s=settings.CACHE_TTL_SECONDS)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.cache_entry import CacheEntry
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.errors import Conflict
from comfyui_gateway.jobs.status import JobStatus

log = logging.getLogger("comfyui_gateway.cache")


@dataclass(frozen=True)
class CacheHit:
    """The earlier job whose outputs answer a request, and those outputs."""

    job: Job
    outputs: Sequence[JobOutput]


async def lookup(session: AsyncSession, key: str) -> CacheHit | None:
    """The live entry for ``key`` and its job's outputs, or None."""
    with translate_db_errors():
        job = await session.scalar(
            select(Job)
            .join(CacheEntry, CacheEntry.job_id == Job.id)
            .where(
                CacheEntry.key == key,
                CacheEntry.expires_at > utcnow(),
                Job.status == JobStatus.SUCCEEDED,
            )
        )
        if job is None:
            return None
        outputs = await session.scalars(
            select(JobOutput).where(JobOutput.job_id == job.id).order_by(JobOutput.id)
        )
        return CacheHit(job, outputs.all())


async def remember(session: AsyncSession, key: str, job_id: str, *, ttl_s: int) -> bool:
    """Point ``key`` at ``job_id`` for ``ttl_s`` seconds; False if ``ttl_s`` is 0 or a
    concurrent writer got there first (either job answers the key equally well)."""
    if ttl_s <= 0:
        return False
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    try:
        with translate_db_errors():
            entry = await session.get(CacheEntry, key)
            if entry is None:
                session.add(CacheEntry(key=key, job_id=job_id, created_at=now, expires_at=expires))
            else:
                entry.job_id, entry.created_at, entry.expires_at = job_id, now, expires
            await session.commit()
    except Conflict:
        await session.rollback()
        return False
    return True


async def remember_job(session: AsyncSession, job_id: str, *, ttl_s: int) -> bool:
    """Write the entry for a job that just succeeded, if it was submitted cacheable."""
    with translate_db_errors():
        key = await session.scalar(select(Job.cache_key).where(Job.id == job_id))
    if not key:
        return False
    try:
        return await remember(session, key, job_id, ttl_s=ttl_s)
    except Exception:  # the cache is an optimisation: a failed write must not fail the job
        log.exception("could not write the cache entry of job %s", job_id)
        return False
