"""Which schema revision a database is at, without loading Alembic.

A worker checks the database once at start-up (a bad DATABASE_URL is one clear line,
not a stream of failing rounds) and never migrates; reading Alembic's one-row
``alembic_version`` table directly keeps Alembic, Mako and Pygments (about 10 MB of
a worker's memory) out of every worker process.
"""

from __future__ import annotations

from sqlalchemy import Connection, column, create_engine, inspect, select, table
from sqlalchemy.pool import NullPool

from comfyui_gateway.db.urls import parse_database_url

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
    if not inspect(conn).has_table(VERSION_TABLE.name):
        return None
    version = conn.execute(select(VERSION_TABLE.c.version_num)).scalar()
    return str(version) if version is not None else None
