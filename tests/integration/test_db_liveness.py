"""A pooled PostgreSQL connection the server has ended is replaced when it is taken,
and a live one is reused: checked without a round trip (``db/liveness.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from comfyui_gateway.db import create_engine
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
