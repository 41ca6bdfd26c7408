"""The embedded mode's workers: every backend's job slots inside the API process."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.backends import BackendReports
from comfyui_gateway.config import Settings
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.jobqueue.memory import InProcessJobQueue
from comfyui_gateway.storage import Storage
from worker.pool import BackendSlots
from worker.services import BackendWorker, build_backend_worker


class EmbeddedWorkers:
    """``MAX_CONCURRENCY`` slots per backend, fed by the in-process queue."""

    def __init__(
        self,
        settings: Settings,
        *,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        bus: EventBus,
        queue: InProcessJobQueue,
        reports: BackendReports,
        claim_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.backends: Sequence[BackendWorker] = [
            build_backend_worker(
                url,
                settings=settings,
                sessions=sessions,
                storage=storage,
                bus=bus,
                queue=queue,
                reports=reports,
                claim_sessions=claim_sessions,
            )
            for url in settings.comfyui_urls
        ]
        self._slots = [
            BackendSlots(backend.runner, queue, backend.monitor, settings.MAX_CONCURRENCY)
            for backend in self.backends
        ]

    async def start(self) -> None:
        for backend in self.backends:
            await backend.start()
        for slots in self._slots:
            slots.start()

    async def stop(self) -> None:
        for slots in self._slots:
            await slots.stop()
        for backend in self.backends:
            await backend.stop()
