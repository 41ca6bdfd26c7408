"""An object written as a plain INSERT says what its row holds: the column defaults the
INSERT applies are stamped on it first. (That the rows equal what the ORM writes, on
SQLite and PostgreSQL: tests/integration/test_queued_rows.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.engine import create_engine, create_session_factory
from comfyui_gateway.db.migrate import migrate
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.plain_insert import insert_new
from comfyui_gateway.jobs.status import JobStatus
from tests.job_rows import submitted_job


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = str(tmp_path / "rows.db")
    await migrate(url)
    engine = create_engine(url)
    yield create_session_factory(engine)
    await engine.dispose()


async def test_the_object_is_stamped_with_the_defaults_its_row_got(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    job = submitted_job()
    async with sessions() as session:
        await insert_new(session, job)
        await session.commit()
    assert job.status is JobStatus.QUEUED
    assert (job.attempt, job.progress, job.cancel_requested) == (0, 0.0, False)
    async with sessions() as session:
        row = await session.get(Job, job.id)
        assert row is not None
        assert row.created_at == job.created_at and row.updated_at == job.updated_at
        assert row.status is JobStatus.QUEUED
