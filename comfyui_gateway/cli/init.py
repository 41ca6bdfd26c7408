"""``comfyui-gateway init``: data folders, database schema, bundled workflows, .env.example.

Idempotent: ``dev`` runs it on every start, so a fresh data folder just works.
"""

from __future__ import annotations

import logging
from pathlib import Path

from comfyui_gateway.config import Settings
from comfyui_gateway.db.migrate import migrate
from comfyui_gateway.db.urls import parse_database_url

log = logging.getLogger("comfyui_gateway.init")

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


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
    if destination.exists() or not ENV_EXAMPLE.is_file():
        return False
    destination.write_text(ENV_EXAMPLE.read_text())
    return True


async def initialise(settings: Settings) -> None:
    ensure_data_folders(settings)
    await migrate(settings.DATABASE_URL)
    log.info(
        "database ready", extra={"database": parse_database_url(settings.DATABASE_URL).dialect}
    )
