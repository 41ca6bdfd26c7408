"""Bring a database to the newest schema: at start-up, from the CLI, never by hand.

Several processes (API replicas, workers) may start together against one database, so
the upgrade runs under a lock: a PostgreSQL advisory lock, or a lock file beside the
SQLite database. The loser waits, then finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from comfyui_gateway.db.engine import SQLITE_PRAGMAS
from comfyui_gateway.db.urls import DatabaseTarget, parse_database_url

# Arbitrary constant shared by every gateway process: "the schema migration lock".
_PG_ADVISORY_LOCK_KEY = 0x436F6D6679  # "Comfy"


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    config = Config()
    script_location = resources.files("comfyui_gateway.db") / "migrations"
    config.set_main_option("script_location", str(script_location))
    return config


def head_revision() -> str:
    """The newest revision id the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError("no migrations found")
    return head


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Migrate ``database_url`` to ``revision`` (blocking; uses the sync drivers)."""
    target = parse_database_url(database_url)
    if target.sqlite_path is not None:
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(target.sync_url, poolclass=NullPool)
    try:
        with _migration_lock(target), engine.connect() as conn:
            if target.is_sqlite:
                # Not foreign_keys: batch mode rebuilds tables and must not trip them.
                for name, value in SQLITE_PRAGMAS:
                    if name != "foreign_keys":
                        conn.exec_driver_sql(f"PRAGMA {name}={value}")
            else:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_ADVISORY_LOCK_KEY})
            conn.commit()
            try:
                config = alembic_config()
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                conn.commit()
            finally:
                if not target.is_sqlite:
                    conn.rollback()
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_ADVISORY_LOCK_KEY}
                    )
                    conn.commit()
    finally:
        engine.dispose()


async def migrate(database_url: str) -> None:
    """``upgrade_database`` from async code, in a thread so the event loop keeps running."""
    await asyncio.to_thread(upgrade_database, database_url)


@contextlib.contextmanager
def _migration_lock(target: DatabaseTarget) -> Iterator[None]:
    """Serialise SQLite migrations across processes on this machine with ``flock``."""
    if target.sqlite_path is None:
        yield
        return
    lock_path = Path(f"{target.sqlite_path}.migrate-lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
