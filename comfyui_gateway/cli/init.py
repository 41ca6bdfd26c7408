"""``comfyui-gateway init``: data folders, database schema, bundled workflows, .env.example.

Idempotent. ``dev`` runs it on every start but registers the bundled workflows only
on a fresh database, so a bundled workflow an admin deleted stays deleted;
``comfyui-gateway init`` run by hand registers any that are missing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from comfyui_gateway.config import Settings
from comfyui_gateway.db.engine import create_engine, create_session_factory
from comfyui_gateway.db.migrate import migrate
from comfyui_gateway.db.queries.workflows import WorkflowRepository
from comfyui_gateway.db.revision import current_revision
from comfyui_gateway.db.urls import parse_database_url
from comfyui_gateway.workflows.admin import WorkflowAdmin
from comfyui_gateway.workflows.bundled import load_bundled

log = logging.getLogger("comfyui_gateway.init")

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
INIT_ACTOR = "cli:init"


@dataclass
class InitReport:
    folders: list[Path] = field(default_factory=list)
    fresh_database: bool = False
    registered: list[str] = field(default_factory=list)
    env_example_written: bool = False


def ensure_data_folders(settings: Settings) -> list[Path]:
    folders = [settings.STORAGE_LOCAL_PATH]
    target = parse_database_url(settings.DATABASE_URL)
    if target.sqlite_path is not None:
        folders.append(target.sqlite_path.parent)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def write_env_example(destination: Path) -> bool:
    """Copy the project's documented .env.example next to the user's config, once."""
    if destination.exists() or not ENV_EXAMPLE.is_file() or destination == ENV_EXAMPLE:
        return False
    destination.write_text(ENV_EXAMPLE.read_text())
    return True


async def register_missing_bundled(settings: Settings) -> list[str]:
    """Register bundled workflows whose id is free; returns the ids registered."""
    engine = create_engine(settings.DATABASE_URL)
    try:
        sessions = create_session_factory(engine)
        async with sessions() as session:
            existing = {workflow.id for workflow in await WorkflowRepository(session).list()}
        admin = WorkflowAdmin(sessions)
        registered = []
        for definition in load_bundled():
            if definition.id not in existing:
                await admin.create(definition, actor=INIT_ACTOR)
                registered.append(definition.id)
        return registered
    finally:
        await engine.dispose()


async def initialise(settings: Settings, *, bundled: str = "if-fresh") -> InitReport:
    """Prepare a data folder; ``bundled`` is ``always``, ``if-fresh`` or ``never``."""
    report = InitReport(folders=ensure_data_folders(settings))
    revision = await asyncio.to_thread(current_revision, settings.DATABASE_URL)
    report.fresh_database = revision is None
    await migrate(settings.DATABASE_URL)
    if bundled == "always" or (bundled == "if-fresh" and report.fresh_database):
        report.registered = await register_missing_bundled(settings)
    log.info(
        "data ready",
        extra={
            "database": parse_database_url(settings.DATABASE_URL).dialect,
            "bundledRegistered": report.registered,
        },
    )
    return report
