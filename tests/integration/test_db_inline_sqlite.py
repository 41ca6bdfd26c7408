"""SQLite connections that run on the event loop (``db.inline_sqlite``): a lock held by
another writer is waited out on the loop, not inside SQLite, so the holder can finish."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from comfyui_gateway.db import create_engine, inline_sqlite


async def _yield_to_loop(times: int = 50) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def _sqlite_engine(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(str(tmp_path / "gateway.db"))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    return engine


async def test_statements_run_on_the_loop_thread(tmp_path: Path) -> None:
    engine = await _sqlite_engine(tmp_path)
    try:
        ran_on: list[int] = []
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert raw.driver_connection is not None
            sqlite_conn = raw.driver_connection._conn
            sqlite_conn.create_function("whereami", 0, lambda: ran_on.append(threading.get_ident()))
            await conn.execute(text("SELECT whereami()"))
        assert ran_on == [threading.get_ident()]
    finally:
        await engine.dispose()


async def test_a_writer_waits_for_a_lock_held_by_another_coroutine(tmp_path: Path) -> None:
    """With a wait inside SQLite the second writer would stall the loop, and with it the
    first writer's commit, for the whole busy timeout, then fail."""
    engine = await _sqlite_engine(tmp_path)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("INSERT INTO t (who) VALUES ('holder')"))  # lock taken

            async def second_writer() -> None:
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO t (who) VALUES ('second')"))

            waiting = asyncio.create_task(second_writer())
            await _yield_to_loop()
            assert not waiting.done()  # it waits, and the loop still runs this coroutine
            await holder.commit()
            await asyncio.wait_for(waiting, timeout=10)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT who FROM t ORDER BY id"))).scalars().all()
        assert rows == ["holder", "second"]
    finally:
        await engine.dispose()


async def test_a_lock_held_too_long_fails_as_database_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline_sqlite, "BUSY_TIMEOUT_S", 0.05)
    engine = await _sqlite_engine(tmp_path)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("INSERT INTO t (who) VALUES ('holder')"))
            with pytest.raises(OperationalError, match="database is locked"):
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO t (who) VALUES ('second')"))
            await holder.commit()
    finally:
        await engine.dispose()


async def test_a_stale_snapshot_fails_at_once(tmp_path: Path) -> None:
    """SQLITE_BUSY_SNAPSHOT: the reader's snapshot predates a commit; waiting cannot help."""
    path = str(tmp_path / "snap.db")
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    setup.commit()
    reader = await inline_sqlite.connect(path, isolation_level=None)
    try:
        await reader.execute("BEGIN")
        await (await reader.execute("SELECT count(*) FROM t")).fetchall()
        setup.execute("INSERT INTO t DEFAULT VALUES")
        setup.commit()
        started = asyncio.get_running_loop().time()
        with pytest.raises(sqlite3.OperationalError) as raised:
            await reader.execute("INSERT INTO t DEFAULT VALUES")
        assert raised.value.sqlite_errorcode == inline_sqlite.SQLITE_BUSY_SNAPSHOT
        assert asyncio.get_running_loop().time() - started < inline_sqlite.BUSY_TIMEOUT_S / 2
    finally:
        await reader.close()
        setup.close()


async def test_isolation_level_and_close_need_no_thread(tmp_path: Path) -> None:
    """SQLAlchemy sets an isolation level and aiosqlite stops through the queue a thread
    would read: both run at once."""
    engine = await _sqlite_engine(tmp_path)
    try:
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("INSERT INTO t (who) VALUES ('auto')"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    finally:
        await engine.dispose()
    closed = await inline_sqlite.connect(str(tmp_path / "gateway.db"))
    await closed.close()
    with pytest.raises(ValueError, match="no active connection"):
        await closed.execute("SELECT 1")
