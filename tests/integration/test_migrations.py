"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from comfyui_gateway.db import current_revision
from comfyui_gateway.db import models as _models  # noqa: F401  (registers tables)
from comfyui_gateway.db.base import Base
from comfyui_gateway.db.migrate import alembic_config, head_revision, migrate, upgrade_database
from comfyui_gateway.db.revision import HEAD_REVISION
from comfyui_gateway.db.urls import parse_database_url

pytest_plugins = ["tests.db_fixtures"]

TABLES = {
    "workflows",
    "jobs",
    "job_outputs",
    "job_logs",
    "audit_log",
    "cache_entries",
    "idempotency_keys",
    "webhook_deliveries",
    "input_files",
    "uploads",
    "job_inputs",
}


def _diff(url: str) -> list[Any]:
    engine = create_engine(parse_database_url(url).sync_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(parse_database_url(url).sync_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_at_head(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade_database(database_url)
    assert current_revision(database_url) == head_revision()
    assert _tables(database_url) == TABLES


def test_models_and_migrations_agree(migrated_url: str) -> None:
    assert _diff(migrated_url) == []


def test_comparison_notices_a_missing_index(migrated_url: str) -> None:
    """Guards the test above against comparing nothing with nothing."""
    engine = create_engine(parse_database_url(migrated_url).sync_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_jobs_status_heartbeat_at"))
    finally:
        engine.dispose()
    diff = _diff(migrated_url)
    assert [d[0] for d in diff] == ["add_index"]
    assert diff[0][1].name == "ix_jobs_status_heartbeat_at"


def test_upgrade_is_idempotent(migrated_url: str) -> None:
    upgrade_database(migrated_url)
    assert current_revision(migrated_url) == head_revision()


def test_downgrade_to_base_and_back(migrated_url: str) -> None:
    config = alembic_config()
    engine = create_engine(parse_database_url(migrated_url).sync_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
            conn.commit()
    finally:
        engine.dispose()
    assert _tables(migrated_url) == set()
    upgrade_database(migrated_url)
    assert _tables(migrated_url) == TABLES


def test_concurrent_upgrades_serialise(database_url: str) -> None:
    """Replicas starting together must not race each other's CREATE TABLE."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade_database(database_url)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert current_revision(database_url) == head_revision()


async def test_async_migrate(database_url: str) -> None:
    await migrate(database_url)
    assert current_revision(database_url) == head_revision()


def test_the_head_revision_constant_is_alembics_head() -> None:
    assert head_revision() == HEAD_REVISION, "a new migration: raise db/revision.py HEAD_REVISION"


def _start_up_migration_loads_alembic(database_url: str) -> bool:
    """Run start-up's migration in a fresh interpreter; did it load Alembic?"""
    probe = (
        "import asyncio, sys\n"
        "from comfyui_gateway.db.revision import migrate_unless_current\n"
        f"asyncio.run(migrate_unless_current({database_url!r}))\n"
        "print('alembic' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout.strip() == "True"


def test_start_up_migrates_a_new_database_and_leaves_alembic_out_of_a_current_one(
    database_url: str,
) -> None:
    assert _start_up_migration_loads_alembic(database_url)
    assert current_revision(database_url) == head_revision()
    assert not _start_up_migration_loads_alembic(database_url)
