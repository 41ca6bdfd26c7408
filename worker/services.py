"""A worker's resources for one backend: client, monitor and job runner.

Built once when a worker starts (STYLE.md: resources at start, closed at shutdown)
and shared by every job that worker runs, in the embedded and the RQ modes alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.backends import BackendReports
from comfyui_gateway.config import Settings
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.privacy import Privacy
from comfyui_gateway.storage import Storage
from worker.comfyui import ClientConfig, ComfyUIClient
from worker.monitor import BackendMonitor, worker_identity
from worker.probe import BackendProbe
from worker.runner import JobRunner, RunnerConfig


@dataclass
class BackendWorker:
    """Everything needed to run jobs on one ComfyUI backend."""

    url: str
    client: ComfyUIClient
    monitor: BackendMonitor
    runner: JobRunner

    async def start(self) -> None:
        await self.client.start()
        # The WebSocket connects now, not under the first job: a socket that comes up
        # after a prompt was posted is a gap its follower must close with /history.
        self.client.stream.start()
        self.monitor.start()

    async def stop(self) -> None:
        await self.monitor.stop()
        await self.client.close()


def build_backend_worker(
    url: str,
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    storage: Storage,
    bus: EventBus,
    queue: JobQueue,
    reports: BackendReports,
    claim_sessions: async_sessionmaker[AsyncSession] | None = None,
) -> BackendWorker:
    """``claim_sessions``: for the runner's claim (see ``JobRunner``); default ``sessions``."""
    identity = worker_identity()
    client = ComfyUIClient(url, ClientConfig.from_timeout_ms(settings.COMFYUI_TIMEOUT_MS))
    monitor = BackendMonitor(url, reports, probe=BackendProbe(url, identity, reports))
    runner = JobRunner(
        sessions=sessions,
        client=client,
        storage=storage,
        bus=bus,
        queue=queue,
        config=RunnerConfig(
            worker_id=identity,
            cache_ttl_s=settings.CACHE_TTL_SECONDS if settings.CACHE_ENABLED else 0,
            strip_metadata=settings.strip_output_metadata,
        ),
        privacy=Privacy.from_settings(settings),
        claim_sessions=claim_sessions,
    )
    return BackendWorker(url=url, client=client, monitor=monitor, runner=runner)
