"""A new queued job's rows — the job, its idempotency key, its "Job queued" line — at once.

On PostgreSQL the three INSERTs are one statement: the job's INSERT is a data-modifying
CTE, and the key and the line select its id (PostgreSQL runs every such CTE exactly
once, and checks the foreign keys at the end of the statement). One round trip instead
of three, each a wake-up of a database process on a busy machine; a duplicate key
fails the whole statement, as it failed the transaction before. Elsewhere (SQLite, where
a statement is a call on the loop's own thread) they stay three plain INSERTs. The
values are ``db.plain_insert.row_of``'s either way, defaults stamped on the objects.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Insert, Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.idempotency import IdempotencyKey
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.plain_insert import insert_new, row_of


async def insert_queued(
    session: AsyncSession, job: Job, key: IdempotencyKey | None, line: JobLog
) -> None:
    """Write ``job`` with its ``key`` (when it has one) and its first log ``line``, in the
    session's transaction."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        await insert_new(session, job, *([key] if key is not None else []), line)
        return
    params = _params("job", job) | _params("line", line, skip=("job_id",))
    if key is not None:
        params |= _params("key", key, skip=("job_id",))
    await connection.execute(_statement(key is not None), params)


def _params(
    prefix: str, item: Job | IdempotencyKey | JobLog, skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    _, values = row_of(item)
    return {f"{prefix}_{name}": value for name, value in values.items() if name not in skip}


@functools.cache
def _statement(with_key: bool) -> Insert:
    """Built once per shape (a statement this size took longer to build than to run)."""
    jobs = _table(Job)
    new_job = (
        insert(jobs)
        .values({column.key: _bound("job", column.key, jobs) for column in jobs.columns})
        .returning(jobs.c.id)
        .cte("new_job")
    )
    statement = _from_new_job(_table(JobLog), "line", new_job, ("timestamp", "level", "message"))
    if with_key:
        keys = _table(IdempotencyKey)
        new_key = _from_new_job(keys, "key", new_job, ("owner", "request_id", "created_at"))
        statement = statement.add_cte(new_key.cte("new_key"))
    return statement


def _from_new_job(table: Table, prefix: str, new_job: Any, names: tuple[str, ...]) -> Insert:
    """INSERT INTO ``table`` (job_id, ``names``) SELECT the new job's id, the bound values."""
    values = [_bound(prefix, name, table) for name in names]
    return insert(table).from_select(["job_id", *names], select(new_job.c.id, *values))


def _bound(prefix: str, name: str, table: Table) -> Any:
    return bindparam(f"{prefix}_{name}", type_=table.c[name].type)


def _table(model: type[Job] | type[IdempotencyKey] | type[JobLog]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table
