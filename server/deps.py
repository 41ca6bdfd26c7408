"""What the services need, built once by the composition root and passed in."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.backends import BackendReports
from comfyui_gateway.config import Settings


@dataclass
class ServerDeps:
    """The server's collaborators. Tests hand in real ones (SQLite/PostgreSQL, Redis)."""

    settings: Settings
    backend_reports: BackendReports
    sessions: async_sessionmaker[AsyncSession]
    started_at: float = field(default_factory=time.monotonic)
