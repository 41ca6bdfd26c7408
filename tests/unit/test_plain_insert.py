"""A row written as a plain INSERT is the row the ORM would have written, and the object
says what its row holds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.engine import create_engine, create_session_factory
from comfyui_gateway.db.migrate import migrate
from comfyui_gateway.db.models.idempotency import IdempotencyKey
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.plain_insert import insert_new
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus

MOMENT_COLUMNS = {"id", "created_at", "updated_at", "queued_at", "timestamp", "job_id"}
"""Differ between two rows by nature (their ids, the instant each was written)."""


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = str(tmp_path / "rows.db")
    await migrate(url)
    engine = create_engine(url)
    yield create_session_factory(engine)
    await engine.dispose()


def new_job() -> Job:
    """A job as a submission builds it: the columns it sets, none of the defaulted ones."""
    return Job(
        id=str(uuid.uuid4()),
        workflow_id="icon_512",
        owner="alice",
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


async def stored(session: AsyncSession, model: Any, job_id: str) -> dict[str, Any]:
    table = model.__table__
    row = (await session.execute(select(table).where(table.c.job_id == job_id))).mappings()
    return {k: v for k, v in dict(row.one()).items() if k not in MOMENT_COLUMNS}


async def stored_job(session: AsyncSession, job_id: str) -> dict[str, Any]:
    table = Job.__table__
    row = (await session.execute(select(table).where(table.c.id == job_id))).mappings().one()
    return {k: v for k, v in dict(row).items() if k not in MOMENT_COLUMNS}


async def test_the_rows_match_what_the_orm_writes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    through_orm, plain = new_job(), new_job()
    async with sessions() as session:
        session.add(through_orm)
        await session.flush()
        session.add(IdempotencyKey(owner="alice", request_id="r1", job_id=through_orm.id))
        session.add(JobLog(job_id=through_orm.id, level="info", message="Job queued"))
        await session.commit()
    async with sessions() as session:
        key = IdempotencyKey(owner="alice", request_id="r2", job_id=plain.id)
        line = JobLog(job_id=plain.id, level="info", message="Job queued")
        await insert_new(session, plain, key, line)
        await session.commit()
    async with sessions() as session:
        assert await stored_job(session, plain.id) == await stored_job(session, through_orm.id)
        plain_key = await stored(session, IdempotencyKey, plain.id)
        orm_key = await stored(session, IdempotencyKey, through_orm.id)
        assert {**plain_key, "request_id": "r"} == {**orm_key, "request_id": "r"}
        assert await stored(session, JobLog, plain.id) == await stored(
            session, JobLog, through_orm.id
        )


async def test_the_object_is_stamped_with_the_defaults_its_row_got(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    job = new_job()
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
