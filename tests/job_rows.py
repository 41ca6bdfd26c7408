"""A running job's row in a real (SQLite) database, for tests that need one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
