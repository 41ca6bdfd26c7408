"""Engine factory, column types and table constraints on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from comfyui_gateway.db import create_engine, parse_database_url
from comfyui_gateway.db.engine import transaction_open
from comfyui_gateway.db.models import (
    AuditEntry,
    CacheEntry,
    IdempotencyKey,
    Job,
    JobLog,
    JobOutput,
    WebhookDelivery,
)
from comfyui_gateway.jobs import JobPriority, JobStatus

pytest_plugins = ["tests.db_fixtures"]


def _job(**overrides: object) -> Job:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "workflow_id": "sdxl_realism_v1",
        "owner": "key:alice",
        "inputs": {"prompt": 'a café ☕ "quoted" {{x}}', "steps": 30},
        "inputs_digest": "0" * 64,
    }
    values.update(overrides)
    return Job(**values)


@pytest.mark.parametrize(
    ("raw", "dialect", "driver"),
    [
        ("./data/gateway.db", "sqlite", "sqlite+aiosqlite"),
        ("/abs/x.db", "sqlite", "sqlite+aiosqlite"),
        ("sqlite:///rel/x.db", "sqlite", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:////abs/y.db", "sqlite", "sqlite+aiosqlite"),
        ("postgres://u:p@h:5432/db?sslmode=require", "postgresql", "postgresql+psycopg"),
        ("postgresql://u@h/db", "postgresql", "postgresql+psycopg"),
    ],
)
def test_database_url_forms(raw: str, dialect: str, driver: str) -> None:
    target = parse_database_url(raw)
    assert target.dialect == dialect
    assert target.async_url.drivername == driver
    if dialect == "sqlite":
        assert target.sync_url.drivername == "sqlite+pysqlite"
        assert target.sqlite_path is not None and target.sqlite_path.is_absolute()
    else:
        assert target.sync_url.drivername == "postgresql+psycopg"
        assert target.async_url.host == "h"


def test_postgres_query_is_kept() -> None:
    target = parse_database_url("postgres://u:p@h:5432/db?sslmode=require")
    assert target.async_url.query == {"sslmode": "require"}
    assert target.async_url.password == "p"


@pytest.mark.parametrize("raw", ["", "mysql://u@h/db", "redis://localhost"])
def test_unsupported_database_urls_name_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        parse_database_url(raw)


async def test_sqlite_creates_folder_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "gw.db"
    eng = create_engine(str(path))
    try:
        async with eng.connect() as conn:
            pragmas = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        await eng.dispose()
    assert path.parent.is_dir()
    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": 0,  # lock waits happen on the event loop (db.inline_sqlite)
        "foreign_keys": 1,
        "synchronous": 1,
    }


async def test_in_memory_sqlite_shares_one_database() -> None:
    eng = create_engine("sqlite:///:memory:")
    try:
        async with eng.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        async with eng.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await eng.dispose()


async def test_job_defaults_enums_json_and_utc(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    heartbeat = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    job = _job(priority=JobPriority.HIGH, heartbeat_at=heartbeat, seed=2**53 - 1)
    async with sessions() as session, session.begin():
        session.add(job)
    async with sessions() as session:
        loaded = await session.get(Job, job.id)
    assert loaded is not None
    assert loaded.status is JobStatus.QUEUED
    assert loaded.priority is JobPriority.HIGH
    assert loaded.inputs == {"prompt": 'a café ☕ "quoted" {{x}}', "steps": 30}
    assert loaded.params == {} and loaded.job_metadata == {}
    assert loaded.progress == 0.0 and loaded.attempt == 0 and loaded.cancel_requested is False
    assert loaded.seed == 2**53 - 1
    assert loaded.heartbeat_at == heartbeat
    assert loaded.heartbeat_at is not None and loaded.heartbeat_at.tzinfo is not None
    assert loaded.heartbeat_at.utcoffset() == timedelta(0)
    assert loaded.created_at.tzinfo is not None


async def test_naive_datetimes_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        session.add(_job(heartbeat_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            await session.flush()


async def test_conditional_update_by_status(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The exactly-one-finisher pattern the workers rely on."""
    job = _job()
    async with sessions() as session, session.begin():
        session.add(job)
    stmt = (
        update(Job)
        .where(Job.id == job.id, Job.status == JobStatus.QUEUED, Job.attempt == 0)
        .values(status=JobStatus.RUNNING, attempt=1, started_at=datetime.now(UTC))
    )
    async with sessions() as session, session.begin():
        first = await session.execute(stmt)
    async with sessions() as session, session.begin():
        second = await session.execute(stmt)
    assert getattr(first, "rowcount", None) == 1
    assert getattr(second, "rowcount", None) == 0
    async with sessions() as session:
        statuses = (await session.scalars(select(Job.status).where(Job.id == job.id))).all()
    assert statuses == [JobStatus.RUNNING]


async def test_children_cascade_with_the_job(sessions: async_sessionmaker[AsyncSession]) -> None:
    job = _job()
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        session.add(job)
        await session.flush()
        session.add_all(
            [
                JobOutput(
                    job_id=job.id,
                    filename="ComfyUI_00001_.png",
                    stored_name=f"{uuid.uuid4()}.png",
                    storage_path=f"{job.id}/x.png",
                    size=123,
                    sha256="a" * 64,
                    content_type="image/png",
                    node_id="9",
                ),
                JobLog(job_id=job.id, level="info", message="queued"),
                CacheEntry(key="k" * 64, job_id=job.id, expires_at=now + timedelta(days=1)),
                IdempotencyKey(owner="key:alice", request_id="req_1", job_id=job.id),
                WebhookDelivery(job_id=job.id, url="https://example.com/hook", attempt=1),
            ]
        )
    async with sessions() as session, session.begin():
        await session.delete(await session.get(Job, job.id))
    async with sessions() as session:
        for model in (JobOutput, JobLog, CacheEntry, IdempotencyKey, WebhookDelivery):
            assert (await session.scalars(select(model))).all() == [], model.__name__


async def test_output_names_are_unique_per_job(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    job = _job()
    async with sessions() as session, session.begin():
        session.add(job)
    fields = {
        "job_id": job.id,
        "filename": "a.png",
        "stored_name": "same.png",
        "storage_path": "p",
        "size": 1,
        "sha256": "b" * 64,
        "content_type": "image/png",
    }
    async with sessions() as session:
        session.add_all([JobOutput(**fields), JobOutput(**fields)])
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_idempotency_key_is_unique_per_owner(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first, second = _job(), _job(owner="key:bob")
    async with sessions() as session, session.begin():
        session.add_all([first, second])
        await session.flush()
        # The same request id from another caller is a different key.
        session.add(IdempotencyKey(owner="key:alice", request_id="req", job_id=first.id))
        session.add(IdempotencyKey(owner="key:bob", request_id="req", job_id=second.id))
    async with sessions() as session:
        session.add(IdempotencyKey(owner="key:alice", request_id="req", job_id=second.id))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_foreign_keys_are_enforced(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        session.add(JobLog(job_id="no-such-job", level="info", message="x"))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_engine_fixture_dialects(engine: AsyncEngine) -> None:
    assert engine.dialect.name in ("sqlite", "postgresql")
    assert engine.dialect.driver in ("aiosqlite", "psycopg")


async def test_a_connection_returned_inside_a_transaction_is_rolled_back(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The pool skips the ROLLBACK only for connections with no open transaction
    (``transaction_open``); one handed back mid-transaction is still reset."""
    write = (
        "INSERT INTO audit_log (timestamp, actor, action, target, outcome) "
        "VALUES ('2026-01-01 00:00:00', 'leak-test', 'a', 't', 'o')"
    )
    async with engine.connect() as conn:
        fairy = await conn.get_raw_connection()
        await fairy.driver_connection.execute(write)  # type: ignore[union-attr]
        assert transaction_open(fairy.driver_connection)
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == "leak-test")
        )
        session.add(AuditEntry(actor="after", action="a", target="t", outcome="o"))
        await session.commit()  # the lock of the abandoned write is gone too (SQLite)
    assert count == 0
    async with engine.connect() as conn:
        fairy = await conn.get_raw_connection()
        assert not transaction_open(fairy.driver_connection)
