"""Async engine and session factories; the caller owns their lifetime (no module globals).

Usage::

    engine = create_engine(settings.DATABASE_URL)
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        ...
    await engine.dispose()
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import StaticPool

from comfyui_gateway.db.urls import DatabaseTarget, parse_database_url

SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    # WAL lets readers run while one writer commits: the API reads while workers write.
    ("journal_mode", "WAL"),
    # Wait for a competing writer instead of failing with "database is locked".
    ("busy_timeout", "5000"),
    # SQLite ignores foreign keys unless told, per connection.
    ("foreign_keys", "ON"),
    # Safe with WAL (a crash can lose the last commit only on power loss), much faster.
    ("synchronous", "NORMAL"),
)


POOL_SIZE = 20
"""Connections kept open per process. SQLAlchemy's default of 5 (+10 overflow) made a
burst of 16 concurrent submissions open and close overflow connections on every
request: a fresh aiosqlite connection is a new thread plus the PRAGMAs, a fresh
PostgreSQL one a TCP handshake and authentication, each several milliseconds."""
MAX_OVERFLOW = 10


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the async engine for ``DATABASE_URL`` (a SQLite path or a PostgreSQL URL).

    SQLite: the parent folder is created and the PRAGMAs above run on every connection.
    PostgreSQL: ``postgres://`` is mapped to psycopg 3 and pooled connections are pinged
    before use, so a restarted server does not surface as a failed request.
    """
    target = parse_database_url(database_url)
    if target.is_sqlite:
        return _sqlite_engine(target, echo=echo)
    return _create_async_engine(
        target.async_url,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        echo=echo,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (they outlive the transaction)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _sqlite_engine(target: DatabaseTarget, *, echo: bool) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": echo}
    if target.sqlite_path is None:
        # One shared connection, or every pooled connection would see its own empty DB.
        kwargs["poolclass"] = StaticPool
    else:
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        kwargs |= {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}
    engine = _create_async_engine(target.async_url, **kwargs)
    event.listen(engine.sync_engine, "connect", apply_sqlite_pragmas)
    return engine


def apply_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Run ``SQLITE_PRAGMAS`` on a fresh DBAPI connection (sync or aiosqlite adapter)."""
    cursor = dbapi_connection.cursor()
    try:
        for name, value in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {name}={value}")
    finally:
        cursor.close()
