"""A stream whose terminal event never comes (lost with a Redis outage) still ends: a
quiet stream re-reads the database, and ends with the stored terminal state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.eventbus import MemoryEventBus
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.jobs.watch import watch_job
from tests.job_rows import database_holding
from tests.job_rows import running_job as running_job_row

RECHECK_S = 0.1


@pytest.fixture
async def running_job(
    tmp_path: Path,
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], str]]:
    job = running_job_row()
    async with database_holding(tmp_path / "quiet.db", job) as sessions:
        yield sessions, job.id


async def test_a_quiet_stream_ends_with_the_stored_terminal_state(
    running_job: tuple[async_sessionmaker[AsyncSession], str],
) -> None:
    sessions, job_id = running_job
    bus = MemoryEventBus()
    seen: list[JobEvent] = []
    step = JobEvent(type=EventType.PROGRESS, job_id=job_id, status="running", progress=60.0)

    async def follow() -> None:
        async for event in watch_job(sessions, bus, job_id, "alice", recheck_s=RECHECK_S):
            seen.append(event)
            if event.type is EventType.SNAPSHOT:
                await bus.publish(step)
            elif event.type is EventType.PROGRESS:
                # The job ends, but its terminal event is never published.
                async with sessions() as session:
                    await session.execute(
                        update(Job)
                        .where(Job.id == job_id)
                        .values(status=JobStatus.SUCCEEDED, progress=100.0, completed_at=utcnow())
                    )
                    await session.commit()

    async with asyncio.timeout(30):
        await follow()
    assert [event.type for event in seen] == [
        EventType.SNAPSHOT,
        EventType.PROGRESS,
        EventType.TERMINAL,
    ]
    assert seen[-1].status == "succeeded" and seen[-1].progress == 100.0
    await bus.close()
