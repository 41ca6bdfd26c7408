"""Pooled PostgreSQL connections: one the server has ended is replaced when it is taken
and a live one is reused, checked without a round trip (``db/liveness.py``); read
sessions run in autocommit (``create_autocommit_session_factory``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from comfyui_gateway.db import create_engine
from comfyui_gateway.db.engine import create_autocommit_session_factory, create_session_factory
from tests.db_fixtures import POSTGRES_URL

GONE_WITHIN_S = 10.0


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    eng = create_engine(POSTGRES_URL)
    try:
        yield eng
    finally:
        await eng.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def _terminate(pid: int) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def _until_gone(pid: int) -> None:
    """Wait until the backend has exited (it sends its FATAL message before it does)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GONE_WITHIN_S
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert loop.time() < deadline, f"backend {pid} still running"
            await asyncio.sleep(0.01)


async def test_a_live_pooled_connection_is_reused(engine: AsyncEngine) -> None:
    first = await _backend_pid(engine)
    assert await _backend_pid(engine) == first
    assert await _backend_pid(engine) == first


async def test_a_connection_the_server_ended_is_replaced_before_use(engine: AsyncEngine) -> None:
    ended = await _backend_pid(engine)
    _terminate(ended)  # as a restart or an idle timeout would
    await _until_gone(ended)
    replacement = await _backend_pid(engine)  # no error reaches the caller
    assert replacement != ended
    assert await _backend_pid(engine) == replacement


async def _transaction_status(session: AsyncSession) -> pq.TransactionStatus:
    """libpq's view after a SELECT: IDLE in autocommit, INTRANS inside a transaction."""
    await session.execute(text("SELECT 1"))
    raw = await (await session.connection()).get_raw_connection()
    driver: Any = raw.driver_connection
    status: pq.TransactionStatus = driver.info.transaction_status
    return status


async def test_read_sessions_run_in_autocommit_and_leave_the_pool_transactional(
    engine: AsyncEngine,
) -> None:
    """A read needs no BEGIN or ROLLBACK round trip; the same pooled connection is
    transactional again for the next ordinary session (writes stay atomic)."""
    reads, writes = create_autocommit_session_factory(engine), create_session_factory(engine)
    async with reads() as session:
        assert await _transaction_status(session) is pq.TransactionStatus.IDLE
        read_pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    async with writes() as session:
        assert await _transaction_status(session) is pq.TransactionStatus.INTRANS
        assert (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one() == read_pid


async def test_read_sessions_on_sqlite_are_the_ordinary_ones(tmp_path: Path) -> None:
    engine = create_engine(str(tmp_path / "gateway.db"))
    try:
        assert create_autocommit_session_factory(engine).kw["bind"] is engine
    finally:
        await engine.dispose()
