"""``comfyui-gateway run``: the gRPC server, and the in-process workers when embedded.

The composition root for the API process: it builds every collaborator from the
settings (database, Redis or memory stores, services), migrates the database, starts
the server and stops it gracefully on SIGTERM/SIGINT. With ``REDIS_URL`` empty there
is no shared queue, so this process also runs the workers (``EmbeddedWorkers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

from comfyui_gateway.backends import BackendReports, MemoryBackendReports, RedisBackendReports
from comfyui_gateway.config import Settings
from comfyui_gateway.db.engine import create_engine, create_session_factory
from comfyui_gateway.db.migrate import migrate
from server.app import GrpcServer
from server.deps import ServerDeps
from server.wiring import build_services
from worker.monitor import BackendMonitor

log = logging.getLogger("comfyui_gateway.run")


@dataclass
class RunningGateway:
    """A started server and its embedded workers; ``stop()`` undoes ``start_gateway``."""

    server: GrpcServer
    monitors: list[BackendMonitor]
    redis: Redis | None

    @property
    def grpc_port(self) -> int:
        return self.server.port


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[RunningGateway]:
    """Start the API process's pieces; stop them in reverse order on exit."""
    await migrate(settings.DATABASE_URL)
    engine = create_engine(settings.DATABASE_URL)
    redis = Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None
    reports: BackendReports = (
        RedisBackendReports(redis, settings.REDIS_NAMESPACE) if redis else MemoryBackendReports()
    )
    sessions = create_session_factory(engine)
    deps = ServerDeps(settings=settings, backend_reports=reports, sessions=sessions)
    server = GrpcServer(build_services(deps), settings.GRPC_HOST, settings.GRPC_PORT)
    monitors = [] if redis else [BackendMonitor(url, reports) for url in settings.comfyui_urls]
    try:
        await server.start()
        for monitor in monitors:
            monitor.start()
        if not redis:
            log.info("REDIS_URL is empty: jobs run in this process (embedded mode)")
        yield RunningGateway(server=server, monitors=monitors, redis=redis)
    finally:
        for monitor in monitors:
            await monitor.stop()
        await server.stop()
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
        await stop.wait()
        log.info("shutting down")
