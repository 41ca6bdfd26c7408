"""aiosqlite's interface, run on the event loop's own thread.

aiosqlite hands every call (cursor, execute, fetch, close, commit: three to five per
statement) to a thread of its own and back through ``call_soon_threadsafe``. For the
small indexed statements of a job each hop costs more than the statement — a future,
a self-pipe wake-up of the loop and a GIL hand-off — so the embedded server spent
more CPU passing statements around than SQLite spent running them (the ``cpu`` bench:
~13 % of the server's CPU per job went with the thread). Run inline, a statement
costs what SQLite takes to run it, and SQLAlchemy's aiosqlite dialect is unchanged.

What the thread gave is kept where it matters:

- **A lock wait does not block the loop.** The connection's ``busy_timeout`` is 0; a
  statement that meets another writer's lock (``SQLITE_BUSY``) is retried after an
  ``asyncio.sleep``, backing off, for up to ``BUSY_TIMEOUT_S`` (what ``busy_timeout``
  gave before). The writer holding the lock is often a coroutine of this same loop,
  between two statements of its transaction: a wait inside SQLite would stall it and
  so itself. ``SQLITE_BUSY_SNAPSHOT`` is raised at once, as SQLite raises it.
- Every other error, result and transaction state is sqlite3's own.

The price: a statement runs on the loop, so a slow one (a scan of a very large table)
holds every other request for its duration. The gateway's statements are indexed and
small; PostgreSQL, the production database, is not affected.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite

BUSY_TIMEOUT_S = 5.0
"""How long a statement waits for another writer's lock (the thread's ``busy_timeout``)."""
FIRST_BACKOFF_S = 0.0005
MAX_BACKOFF_S = 0.05
SQLITE_BUSY = 5
SQLITE_BUSY_SNAPSHOT = 517
"""A read transaction's snapshot went stale before it wrote: waiting cannot help."""


def is_lock_wait(error: sqlite3.OperationalError) -> bool:
    """Whether ``error`` is another connection's lock, which goes away by waiting."""
    code = error.sqlite_errorcode  # the extended code (Python 3.11+)
    return code & 0xFF == SQLITE_BUSY and code != SQLITE_BUSY_SNAPSHOT


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: runs each call as it is put.

    aiosqlite's ``stop`` and SQLAlchemy's isolation-level setter put work on the queue
    directly; with no thread to take it, it runs here and settles its future at once.
    """

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the waiter, as aiosqlite does
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineSQLiteConnection(aiosqlite.Connection):
    """See the module docstring; made by ``connect``."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, InlineSQLiteConnection]:
        return self._open().__await__()

    async def _open(self) -> InlineSQLiteConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        deadline: float | None = None
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as error:
                if not is_lock_wait(error):
                    raise
                deadline = deadline or time.monotonic() + BUSY_TIMEOUT_S
                if time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)


def connect(database: str, **kwargs: Any) -> InlineSQLiteConnection:
    """``aiosqlite.connect`` for SQLAlchemy's aiosqlite dialect (its ``async_creator_fn``),
    inline; the connection never waits inside SQLite for a lock (see the module)."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **{**kwargs, "timeout": 0})
        connection.execute("PRAGMA busy_timeout=0")
        return connection

    return InlineSQLiteConnection(connector)
