"""What the services need, built once by the composition root and passed in."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.admission.setup import JobAdmission
from comfyui_gateway.backends import BackendReports
from comfyui_gateway.config import Settings
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.media.fetch import MediaFetcher
from comfyui_gateway.metrics import Counters, MemoryCounters
from comfyui_gateway.storage import Storage
from comfyui_gateway.workflows.recent import RecentWorkflows


@dataclass
class ServerDeps:
    """The server's collaborators. Tests hand in real ones (SQLite/PostgreSQL, Redis)."""

    settings: Settings
    backend_reports: BackendReports
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    queue: JobQueue
    storage: Storage
    started_at: float = field(default_factory=time.monotonic)
    counters: Counters = field(default_factory=MemoryCounters)
    """Event counters for /metrics: Redis-backed when REDIS_URL is set (shared by replicas)."""
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server begins to stop: progress streams end with the job's state."""
    media_fetcher: MediaFetcher | None = None
    """Fetches media inputs (URLs, S3); owned and closed by the composition root."""
    recent_workflows: RecentWorkflows = field(default_factory=RecentWorkflows)
    """Workflow rows submissions reuse briefly; admin changes here drop them at once."""
    job_admission: JobAdmission | None = None
    """Quotas, queue back-pressure and ETAs of creates; None: no limits, ETAs 0."""
    read_sessions: async_sessionmaker[AsyncSession] | None = None
    """Sessions for plain reads (autocommit on PostgreSQL, see
    ``db.engine.create_autocommit_session_factory``); None: the ``sessions`` themselves."""

    @property
    def reads(self) -> async_sessionmaker[AsyncSession]:
        """The factory a read-only request opens its session from."""
        return self.read_sessions or self.sessions
