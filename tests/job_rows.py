"""A running job's row in a real (SQLite) database, for tests that need one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.engine import create_engine, create_session_factory
from comfyui_gateway.db.migrate import migrate
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


@asynccontextmanager
async def database_holding(path: Path, job: Job) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated SQLite database at ``path`` with ``job`` stored; its session factory."""
    await migrate(str(path))
    engine = create_engine(str(path))
    sessions = create_session_factory(engine)
    async with sessions() as session:
        session.add(job)
        await session.commit()
    try:
        yield sessions
    finally:
        await engine.dispose()


MOMENT_COLUMNS = {"id", "created_at", "updated_at", "queued_at", "timestamp", "job_id"}
"""Differ between two rows by nature (their ids, the instant each was written)."""


def submitted_job(owner: str = "alice") -> Job:
    """A job as a submission builds it: the columns it sets, none of the defaulted ones."""
    return Job(
        id=str(uuid.uuid4()),
        workflow_id="icon_512",
        owner=owner,
        priority=JobPriority.HIGH,
        inputs={"prompt": "a lighthouse", "seed": 7},
        inputs_digest="0" * 64,
        prompt_graph='{"3":{"class_type":"KSampler"}}',
        params={},
        callback_url=None,
        job_metadata={"team": "a"},
        request_id=None,
        seed=7,
        max_attempts=3,
        queued_at=utcnow(),
        cache_key=None,
        traceparent=None,
        output_format=None,
        previews=False,
    )


async def stored_row(session: AsyncSession, model: Any, job_id: str) -> dict[str, Any]:
    """The row of ``model`` for ``job_id`` (the job's own, or one that names it), without
    the columns two rows differ in by nature."""
    table = model.__table__
    column = table.c.id if model is Job else table.c.job_id
    row = (await session.execute(select(table).where(column == job_id))).mappings().one()
    return {name: value for name, value in dict(row).items() if name not in MOMENT_COLUMNS}
