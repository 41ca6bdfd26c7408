"""Database fixtures: every DB test runs on SQLite (a temp file) and on PostgreSQL.

PostgreSQL isolation is a fresh schema per test (``search_path`` set through the URL's
``options``), dropped afterwards. PostgreSQL must be reachable at
``GATEWAY_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``):
if it is not, the tests fail; they never skip.

Usage in a test module::

    pytest_plugins = ["tests.db_fixtures"]
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from comfyui_gateway.db import create_engine, create_session_factory
from comfyui_gateway.db.migrate import upgrade_database

POSTGRES_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")


def sqlite_url(folder: Path) -> str:
    """A SQLite database file in a folder that does not exist yet (the factory makes it)."""
    return str(folder / "data" / "gateway.db")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a temp SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """``database_url`` upgraded to the newest schema."""
    upgrade_database(database_url)
    return database_url


@pytest.fixture
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    """An async engine on a migrated database, disposed after the test."""
    eng = create_engine(migrated_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory the gateway would use."""
    return create_session_factory(engine)
