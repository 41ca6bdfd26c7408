"""Which schema revision a database is at, without loading Alembic.

A worker checks the database once at start-up (a bad DATABASE_URL is one clear line,
not a stream of failing rounds) and never migrates, and an API process finds the
database migrated already (by ``init`` or another replica) on every start but the
first; reading Alembic's one-row ``alembic_version`` table directly keeps Alembic,
Mako and Pygments (about 10 MB of memory) out of those processes.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection, column, create_engine, inspect, select, table
from sqlalchemy.pool import NullPool

from comfyui_gateway.db.urls import parse_database_url

HEAD_REVISION = "0004"
"""The newest migration's revision id; a test holds it equal to Alembic's head (a new
migration fails that test until this is raised)."""

VERSION_TABLE = table("alembic_version", column("version_num"))
"""Alembic's bookkeeping table: one ``version_num`` row per head (the gateway has one)."""


def current_revision(database_url: str) -> str | None:
    """The revision a database is at (``None`` when never migrated or absent)."""
    target = parse_database_url(database_url)
    if target.sqlite_path is not None and not target.sqlite_path.exists():
        return None  # looking must not create the file
    engine = create_engine(target.sync_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return revision_of(conn)
    finally:
        engine.dispose()


def revision_of(conn: Connection) -> str | None:
    """What ``alembic_version`` holds on ``conn``, or ``None`` before the first migration."""
    if not inspect(conn).has_table(VERSION_TABLE.name):
        return None
    version = conn.execute(select(VERSION_TABLE.c.version_num)).scalar()
    return str(version) if version is not None else None


async def migrate_unless_current(database_url: str) -> None:
    """Start-up's migration: nothing to do, and Alembic not loaded, when the database is
    at ``HEAD_REVISION``; otherwise the upgrade (under its lock, see ``migrate``)."""
    if await asyncio.to_thread(current_revision, database_url) == HEAD_REVISION:
        return
    from comfyui_gateway.db.migrate import migrate

    await migrate(database_url)
