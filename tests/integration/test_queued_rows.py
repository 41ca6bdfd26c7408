"""A queued job's three rows, written at once (one statement on PostgreSQL), are the
rows the ORM writes; a duplicate idempotency key writes nothing. On both databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.idempotency import IdempotencyKey
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.errors import Conflict
from comfyui_gateway.jobs.queued_rows import insert_queued
from tests.job_rows import stored_row, submitted_job

pytest_plugins = ["tests.db_fixtures"]


def queued_line(job: Job) -> JobLog:
    return JobLog(job_id=job.id, level="info", message="Job queued")


async def test_the_rows_are_what_the_orm_writes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    through_orm, at_once = submitted_job(), submitted_job()
    async with sessions() as session:
        session.add(through_orm)
        await session.flush()
        session.add(IdempotencyKey(owner="alice", request_id="r", job_id=through_orm.id))
        session.add(queued_line(through_orm))
        await session.commit()
    async with sessions() as session:
        key = IdempotencyKey(owner="alice", request_id="r2", job_id=at_once.id)
        await insert_queued(session, at_once, key, queued_line(at_once))
        await session.commit()
    async with sessions() as session:
        for model in (Job, JobLog):
            theirs = await stored_row(session, model, through_orm.id)
            assert await stored_row(session, model, at_once.id) == theirs
        theirs = await stored_row(session, IdempotencyKey, through_orm.id)
        assert await stored_row(session, IdempotencyKey, at_once.id) == {
            **theirs,
            "request_id": "r2",
        }


async def test_a_job_without_a_key_has_no_key_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    job = submitted_job()
    async with sessions() as session:
        await insert_queued(session, job, None, queued_line(job))
        await session.commit()
    async with sessions() as session:
        assert (await stored_row(session, JobLog, job.id))["message"] == "Job queued"
        keys = await session.scalars(select(IdempotencyKey).where(IdempotencyKey.job_id == job.id))
        assert keys.all() == []


async def test_a_duplicate_key_is_a_conflict_and_writes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first, second = submitted_job(), submitted_job()
    async with sessions() as session:
        key = IdempotencyKey(owner="alice", request_id="same", job_id=first.id)
        await insert_queued(session, first, key, queued_line(first))
        await session.commit()
    async with sessions() as session:
        again = IdempotencyKey(owner="alice", request_id="same", job_id=second.id)
        with pytest.raises(Conflict), translate_db_errors():
            await insert_queued(session, second, again, queued_line(second))
            await session.commit()
        await session.rollback()
    async with sessions() as session:
        assert await session.get(Job, second.id) is None
        lines = await session.scalars(select(JobLog).where(JobLog.job_id == second.id))
        assert lines.all() == []


async def test_postgresql_gets_one_statement_sqlite_three(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    job = submitted_job()
    key = IdempotencyKey(owner="alice", request_id="once", job_id=job.id)
    async with sessions() as session:
        await session.connection()  # BEGIN, before counting
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            await insert_queued(session, job, key, queued_line(job))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        await session.commit()
    expected = 1 if database_url.startswith("postgresql") else 3
    assert len(statements) == expected, statements
