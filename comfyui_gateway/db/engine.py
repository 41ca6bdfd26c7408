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
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import configure_mappers
from sqlalchemy.pool import PoolResetState, StaticPool

from comfyui_gateway.db.liveness import replace_dead_connections_on_checkout
from comfyui_gateway.db.urls import DatabaseTarget, parse_database_url

SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    # WAL lets readers run while one writer commits: the API reads while workers write.
    ("journal_mode", "WAL"),
    # Wait for a competing writer instead of failing with "database is locked" (the
    # sync engines of migrations and the CLI; the async engine waits on the event loop,
    # see ``inline_sqlite``).
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
    PostgreSQL: ``postgres://`` is mapped to psycopg 3, and a pooled connection the server
    has ended is replaced when it is taken (``liveness``, no ping round trip), so a
    restarted server does not surface as a failed request.
    """
    target = parse_database_url(database_url)
    if target.is_sqlite:
        return _sqlite_engine(target, echo=echo)
    engine = _create_async_engine(
        target.async_url,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_reset_on_return=None,
        echo=echo,
    )
    _reset_only_open_transactions(engine.sync_engine)
    replace_dead_connections_on_checkout(engine.sync_engine)
    return engine


def create_autocommit_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for work of one statement (a worker's claim: an ``UPDATE ... RETURNING``)
    and reads that need no transaction of their own (a job, its outputs).

    On PostgreSQL they run in autocommit: one statement in a transaction cost BEGIN, the
    statement and the COMMIT (or the ROLLBACK when the connection went back to the
    pool), three round trips for one. Each statement is atomic and sees what was
    committed when it ran, as each statement of a READ COMMITTED transaction
    (PostgreSQL's default) does anyway. On SQLite, where a round trip is a call in this
    process, they are the ordinary sessions."""
    if engine.dialect.name != "postgresql":
        return create_session_factory(engine)
    configure_mappers()
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(autocommit, expire_on_commit=False)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (they outlive the transaction).

    The ORM's mappers are configured here, at start-up (~9 ms), not inside the first
    request that touches a model."""
    configure_mappers()
    return async_sessionmaker(engine, expire_on_commit=False)


def _sqlite_engine(target: DatabaseTarget, *, echo: bool) -> AsyncEngine:
    """aiosqlite's dialect on connections that run inline (``inline_sqlite``; imported
    here, so a PostgreSQL process loads neither it nor aiosqlite)."""
    from comfyui_gateway.db import inline_sqlite

    kwargs: dict[str, Any] = {
        "echo": echo,
        "pool_reset_on_return": None,
        "connect_args": {"async_creator_fn": inline_sqlite.connect},
    }
    if target.sqlite_path is None:
        # One shared connection, or every pooled connection would see its own empty DB.
        kwargs["poolclass"] = StaticPool
    else:
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        kwargs |= {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}
    engine = _create_async_engine(target.async_url, **kwargs)
    event.listen(engine.sync_engine, "connect", _apply_inline_pragmas)
    _reset_only_open_transactions(engine.sync_engine)
    return engine


def _reset_only_open_transactions(engine: Engine) -> None:
    """Roll back a returned connection only if a transaction is still open.

    SQLAlchemy's default reset rolls back every connection handed back to the pool
    unless the session already rolled back, so each committed session paid one more
    round trip (a thread hop with aiosqlite, a network one with PostgreSQL) for a
    ROLLBACK that had nothing to undo. The drivers know their transaction state
    without I/O; anything left open is still rolled back before the next checkout.
    """
    event.listen(engine, "reset", _rollback_if_open)


def _rollback_if_open(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
    if not state.asyncio_safe or state.transaction_was_reset:
        return  # a connection being discarded, or one whose transaction already ended
    if not transaction_open(record.driver_connection):
        return
    dbapi_connection.rollback()


def transaction_open(driver_connection: Any) -> bool:
    """Whether the aiosqlite / psycopg connection is inside a transaction; True when
    the driver cannot tell, so an unknown driver is always rolled back."""
    in_transaction = getattr(driver_connection, "in_transaction", None)  # aiosqlite
    if isinstance(in_transaction, bool):
        return in_transaction
    info = getattr(driver_connection, "info", None)  # psycopg: libpq's own state
    status = getattr(info, "transaction_status", None)
    if status is not None:
        return int(status) != 0  # pq.TransactionStatus.IDLE
    return True


def apply_sqlite_pragmas(
    dbapi_connection: Any, connection_record: Any, *, skip: frozenset[str] = frozenset()
) -> None:
    """Run ``SQLITE_PRAGMAS`` (but ``skip``) on a fresh DBAPI connection."""
    cursor = dbapi_connection.cursor()
    try:
        for name, value in SQLITE_PRAGMAS:
            if name not in skip:
                cursor.execute(f"PRAGMA {name}={value}")
    finally:
        cursor.close()


def _apply_inline_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """The PRAGMAs of an inline connection: its lock waits are the event loop's."""
    apply_sqlite_pragmas(dbapi_connection, connection_record, skip=frozenset({"busy_timeout"}))
