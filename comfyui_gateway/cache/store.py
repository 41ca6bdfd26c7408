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

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Insert, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.cache_entry import CacheEntry
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.types import UTCDateTime, utcnow
from comfyui_gateway.errors import Conflict
from comfyui_gateway.jobs.status import JobStatus

log = logging.getLogger("comfyui_gateway.cache")


@dataclass(frozen=True)
class CacheHit:
    """The earlier job whose outputs answer a request, and those outputs."""

    job: Job
    outputs: Sequence[JobOutput]


_LIVE_ENTRY_JOB = (
    select(Job)
    .join(CacheEntry, CacheEntry.job_id == Job.id)
    .where(
        CacheEntry.key == bindparam("lookup_key"),
        CacheEntry.expires_at > bindparam("lookup_now", type_=UTCDateTime()),
        Job.status == JobStatus.SUCCEEDED,
    )
)
"""Built once: building it on every cacheable submission cost more than running it."""


async def lookup(session: AsyncSession, key: str) -> CacheHit | None:
    """The live entry for ``key`` and its job's outputs, or None."""
    with translate_db_errors():
        job = await session.scalar(_LIVE_ENTRY_JOB, {"lookup_key": key, "lookup_now": utcnow()})
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


async def remember_job(session: AsyncSession, job_id: str, *, ttl_s: int) -> None:
    """Point the job's ``cache_key`` (if it has one) at it: one upsert, no commit.

    Run inside the success transaction, so whoever sees the job ``succeeded`` also
    finds its entry; an entry already there (expired, or a concurrent success) is
    overwritten, as ``remember`` does (either job answers the key equally well).
    """
    now = utcnow()
    connection = await session.connection()  # Core: the ORM reads a dict as rows to insert
    await connection.execute(
        _remember_statement(connection.dialect.name),
        {
            "entry_job": job_id,
            "entry_created": now,
            "entry_expires": now + timedelta(seconds=ttl_s),
        },
    )


@functools.cache
def _remember_statement(dialect: str) -> Insert:
    """Built once per dialect (building it took ~0.6 ms, on every success)."""
    stamps = (
        bindparam("entry_created", type_=UTCDateTime()),
        bindparam("entry_expires", type_=UTCDateTime()),
    )
    rows = select(Job.cache_key, Job.id, *stamps).where(
        Job.id == bindparam("entry_job"), Job.cache_key.is_not(None), Job.cache_key != ""
    )
    build = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = build(CacheEntry).from_select(["key", "job_id", "created_at", "expires_at"], rows)
    return statement.on_conflict_do_update(
        index_elements=[CacheEntry.key],
        set_={
            "job_id": statement.excluded.job_id,
            "created_at": statement.excluded.created_at,
            "expires_at": statement.excluded.expires_at,
        },
    )
