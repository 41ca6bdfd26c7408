"""``comfyui-gateway run``: the gRPC server, and the in-process workers when embedded.

The composition root for the API process: it builds every collaborator from the
settings (database, queue, event bus, storage, backend reports), migrates the
database, starts the server and stops everything gracefully on SIGTERM/SIGINT. With
``REDIS_URL`` empty there is no shared queue, so this process also runs the workers;
only then are the worker's modules (and the HTTP client they bring) imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.admission.setup import build_job_admission
from comfyui_gateway.backends import BackendReports, MemoryBackendReports, RedisBackendReports
from comfyui_gateway.config import Settings
from comfyui_gateway.db.engine import (
    create_autocommit_session_factory,
    create_engine,
    create_session_factory,
)
from comfyui_gateway.db.revision import migrate_unless_current
from comfyui_gateway.eventbus import EventBus, MemoryEventBus, RedisEventBus
from comfyui_gateway.heap import freeze_started_process
from comfyui_gateway.jobqueue import InProcessJobQueue, JobQueue, RQJobQueue
from comfyui_gateway.jobqueue.rq_queue import rq_job_timeout
from comfyui_gateway.media.setup import build_fetcher
from comfyui_gateway.metrics import Counters, MemoryCounters, RedisCounters
from comfyui_gateway.scheduling import SchedulerConfig
from comfyui_gateway.storage import Storage, create_storage
from server.app import GrpcServer
from server.deps import ServerDeps
from server.interceptors.admission import build_admission
from server.telemetry import TelemetryInterceptor
from server.wiring import build_services

if TYPE_CHECKING:
    from worker.embedded import EmbeddedWorkers
    from worker.maintenance import Maintenance

log = logging.getLogger("comfyui_gateway.run")


@dataclass
class RunningGateway:
    server: GrpcServer
    deps: ServerDeps
    workers: EmbeddedWorkers | None


def _shared_deps(
    settings: Settings, redis: AsyncRedis
) -> tuple[RedisBackendReports, RedisEventBus, RQJobQueue]:
    queue = RQJobQueue(
        Redis.from_url(settings.REDIS_URL),
        job_timeout_s=rq_job_timeout(settings),
        namespace=settings.REDIS_NAMESPACE,
        async_redis=redis,
    )
    return (
        RedisBackendReports(redis, settings.REDIS_NAMESPACE),
        RedisEventBus(redis, namespace=settings.REDIS_NAMESPACE),
        queue,
    )


def _embedded_workers(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    storage: Storage,
    bus: EventBus,
    queue: InProcessJobQueue,
    reports: BackendReports,
    claim_sessions: async_sessionmaker[AsyncSession],
) -> tuple[EmbeddedWorkers, Maintenance]:
    """The in-process workers, and the upkeep the worker processes do in Redis mode
    (reconciling, webhook delivery; see worker/maintenance.py)."""
    # Imported here: a server with workers of its own is the only one that needs them.
    from worker.embedded import EmbeddedWorkers
    from worker.maintenance import Maintenance

    workers = EmbeddedWorkers(
        settings,
        sessions=sessions,
        storage=storage,
        bus=bus,
        queue=queue,
        reports=reports,
        claim_sessions=claim_sessions,
    )
    maintenance = Maintenance(settings, sessions=sessions, storage=storage, bus=bus, queue=queue)
    return workers, maintenance


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[RunningGateway]:
    """Start the API process's pieces; stop them in reverse order on exit."""
    await migrate_unless_current(settings.DATABASE_URL)
    engine = create_engine(settings.DATABASE_URL)
    sessions = create_session_factory(engine)
    autocommit_sessions = create_autocommit_session_factory(engine)  # reads, ETAs, claims
    storage = create_storage(settings)
    await storage.check()
    redis = AsyncRedis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None
    reports: BackendReports
    bus: EventBus
    queue: JobQueue
    workers: EmbeddedWorkers | None = None
    maintenance: Maintenance | None = None
    if redis is not None:
        reports, bus, queue = _shared_deps(settings, redis)
    else:
        memory_queue = InProcessJobQueue(SchedulerConfig.from_settings(settings))
        reports, bus, queue = MemoryBackendReports(), MemoryEventBus(), memory_queue
        workers, maintenance = _embedded_workers(
            settings, sessions, storage, bus, memory_queue, reports, autocommit_sessions
        )
    counters: Counters = (
        RedisCounters(redis, settings.REDIS_NAMESPACE) if redis is not None else MemoryCounters()
    )
    fetcher = build_fetcher(settings)
    deps = ServerDeps(
        settings,
        reports,
        sessions,
        bus,
        queue,
        storage,
        counters=counters,
        media_fetcher=fetcher,
        job_admission=build_job_admission(  # its queries are all reads
            settings, autocommit_sessions, queue, reports, redis, counters
        ),
        read_sessions=autocommit_sessions,
    )
    admission, failure_audit = build_admission(settings, sessions, redis)
    server = GrpcServer(
        build_services(deps),
        settings.GRPC_HOST,
        settings.GRPC_PORT,
        admission=admission,
        outer_interceptors=[TelemetryInterceptor(counters)],
    )
    try:
        await server.start()
        if workers is not None:
            log.info("REDIS_URL is empty: jobs run in this process (embedded mode)")
            await workers.start()
        if maintenance is not None:
            await maintenance.start()
        yield RunningGateway(server=server, deps=deps, workers=workers)
    finally:
        deps.shutdown.set()  # open progress streams end with their job's state first
        await server.stop()
        await failure_audit.flush()
        if maintenance is not None:
            await maintenance.stop()
        if workers is not None:
            await workers.stop()
        await bus.close()
        await fetcher.close()
        await storage.close()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then drain and stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_gateway(settings):
        freeze_started_process()  # everything built: collections walk only what serving adds
        await stop.wait()
        log.info("shutting down")
