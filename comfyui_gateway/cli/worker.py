"""``comfyui-gateway worker``: a worker process for the shared (Redis) mode.

A worker serves one or more ComfyUI backends: it watches each one and publishes what
it sees (reachability, queue depth, node catalogue, models) for every server's
/health and /capabilities.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

from redis.asyncio import Redis

from comfyui_gateway.backends import RedisBackendReports
from comfyui_gateway.config import Settings
from worker.monitor import BackendMonitor

log = logging.getLogger("comfyui_gateway.worker")


class WorkerNeedsRedis(Exception):
    """Raised when a separate worker is started without REDIS_URL to share work through."""


async def run_worker(settings: Settings, backends: Sequence[str]) -> None:
    if not settings.REDIS_URL:
        raise WorkerNeedsRedis(
            "REDIS_URL is empty: separate workers share work through Redis. "
            "Without Redis, `comfyui-gateway run` runs the workers in its own process."
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    redis = Redis.from_url(settings.REDIS_URL)
    reports = RedisBackendReports(redis, settings.REDIS_NAMESPACE)
    monitors = [BackendMonitor(url, reports) for url in (backends or settings.comfyui_urls)]
    try:
        for monitor in monitors:
            monitor.start()
        log.info("worker started", extra={"backends": [m.url for m in monitors]})
        await stop.wait()
    finally:
        for monitor in monitors:
            await monitor.stop()
        await redis.aclose()
        log.info("worker stopped")
