"""A success records its outputs as plain INSERTs (one statement for all of them): the
rows are the ones the ORM wrote, the objects say what their rows hold, and a loser of
the race writes none. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.db.plain_insert import insert_many
from comfyui_gateway.jobs import transitions
from comfyui_gateway.jobs.status import JobStatus
from tests.job_rows import MOMENT_COLUMNS, running_job

pytest_plugins = ["tests.db_fixtures"]


def an_output(job_id: str, node: str | None = "9") -> JobOutput:
    return JobOutput(
        job_id=job_id,
        filename=f"icon_{node}.png",
        stored_name=f"{uuid.uuid4().hex}.png",
        storage_path=f"/data/{job_id}/x.png",
        size=1234,
        sha256="ab" * 32,
        content_type="image/png",
        node_id=node,
    )


async def stored(sessions: async_sessionmaker[AsyncSession], job: Job) -> list[dict[str, object]]:
    async with sessions() as session:
        rows = (await session.scalars(select(JobOutput).where(JobOutput.job_id == job.id))).all()
        columns = JobOutput.__table__.columns.keys()
        return sorted(
            (
                {name: getattr(row, name) for name in columns if name not in MOMENT_COLUMNS}
                for row in rows
            ),
            key=lambda row: str(row["node_id"]),
        )


async def test_the_rows_are_what_the_orm_writes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    through_orm, plain = running_job(), running_job()
    async with sessions() as session:
        session.add_all([through_orm, plain])
        await session.commit()
        session.add_all([an_output(through_orm.id, "9"), an_output(through_orm.id, None)])
        await session.commit()
    outputs = [an_output(plain.id, "9"), an_output(plain.id, None)]
    async with sessions() as session:
        await insert_many(session, outputs)
        await session.commit()
    theirs, ours = await stored(sessions, through_orm), await stored(sessions, plain)
    for row in theirs + ours:
        row.pop("stored_name")
        row.pop("storage_path")
    assert ours == theirs
    assert all(output.kind == "image" and output.created_at is not None for output in outputs)


async def test_a_success_records_every_output_once_and_a_loser_none(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    job = running_job()
    async with sessions() as session:
        session.add(job)
        await session.commit()
    attempt = job.attempt
    first = [an_output(job.id, "9"), an_output(job.id, "12")]
    async with sessions() as session:
        won = await transitions.succeed_with_outputs(
            session, job.id, attempt=attempt, outputs=first, log_lines=["done"]
        )
    late = [an_output(job.id, "9")]
    async with sessions() as session:
        lost = await transitions.succeed_with_outputs(
            session, job.id, attempt=attempt, outputs=late, log_lines=["late"]
        )
    assert (won, lost) == (True, False)
    rows = await stored(sessions, job)
    assert [row["node_id"] for row in rows] == ["12", "9"]
    async with sessions() as session:
        stored_job = await session.get(Job, job.id)
        assert stored_job is not None and stored_job.status is JobStatus.SUCCEEDED


async def test_objects_of_two_models_are_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    job = running_job()
    async with sessions() as session:
        with pytest.raises(ValueError, match="one model"):
            await insert_many(session, [an_output(job.id), job])
