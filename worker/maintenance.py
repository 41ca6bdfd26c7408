"""Background duties beside the job slots: the reconciler, the webhook deliverer and
retention (``JOB_RETENTION_DAYS``).

Where they run (the composition roots decide):

- embedded mode: in the API process, which also runs the workers;
- Redis mode: in every worker process. Workers are the processes that talk to ComfyUI
  (recovery asks its ``/history``), so the API servers never do. Every worker runs a
  deliverer (the outbox hands each attempt to one of them); the reconciler sweeps in
  one worker at a time, the holder of a Redis lock that expires if that worker dies.

Neither takes a job slot: they are asyncio tasks on the worker's loop, so a slow
webhook receiver never delays a job.
"""

from __future__ import annotations

import logging
import uuid

from redis.asyncio import Redis as AsyncRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.config import Settings
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobs.input_retention import UnreferencedInputs
from comfyui_gateway.jobs.recovery import Reconciler, ReconcilerConfig
from comfyui_gateway.jobs.retention import RetentionSweeper
from comfyui_gateway.names import reconciler_lock_key
from comfyui_gateway.privacy import Privacy
from comfyui_gateway.storage.base import Storage
from comfyui_gateway.webhooks.deliverer import WebhookDeliverer
from comfyui_gateway.webhooks.sender import WebhookSender
from worker.comfyui import ClientConfig
from worker.recovery import HistoryInspector

log = logging.getLogger("comfyui_gateway.worker.maintenance")

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisSweepLock:
    """``SET NX PX`` lock renewed by its holder at every sweep; lapses if it dies."""

    def __init__(self, redis: AsyncRedis, key: str, owner: str, ttl_ms: int) -> None:
        self._redis = redis
        self._key = key
        self._owner = owner
        self._ttl_ms = ttl_ms

    async def acquire(self) -> bool:
        result = await self._redis.eval(_RENEW, 1, self._key, self._owner, str(self._ttl_ms))
        return bool(result)

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, self._key, self._owner)


class Maintenance:
    """The reconciler and the webhook deliverer of one process; ``start``/``stop``."""

    def __init__(
        self,
        settings: Settings,
        *,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        bus: EventBus,
        queue: JobQueue,
        redis: AsyncRedis | None = None,
    ) -> None:
        cache_ttl_s = settings.CACHE_TTL_SECONDS if settings.CACHE_ENABLED else 0
        self._inspector = HistoryInspector(
            sessions=sessions,
            storage=storage,
            bus=bus,
            client_config=ClientConfig.from_timeout_ms(settings.COMFYUI_TIMEOUT_MS),
            cache_ttl_s=cache_ttl_s,
            strip_metadata=settings.strip_output_metadata,
        )
        interval_s = settings.RECONCILE_INTERVAL_MS / 1000
        owner = f"reconciler-{uuid.uuid4().hex[:12]}"
        lock = None
        if redis is not None:
            ttl_ms = max(1000, 3 * settings.RECONCILE_INTERVAL_MS)
            lock = RedisSweepLock(
                redis, reconciler_lock_key(settings.REDIS_NAMESPACE), owner, ttl_ms
            )
        self.reconciler = Reconciler(
            sessions,
            queue,
            bus,
            self._inspector,
            ReconcilerConfig(
                interval_s=interval_s,
                stale_s=settings.HEARTBEAT_STALE_MS / 1000,
                run_limit_s=(settings.COMFYUI_TIMEOUT_MS + settings.RUNNING_GRACE_MS) / 1000,
                claimer=owner,
            ),
            lock,
            Privacy.from_settings(settings),
        )
        self.retention = RetentionSweeper(
            sessions,
            storage,
            retention_days=settings.JOB_RETENTION_DAYS,
            interval_s=interval_s,
            inputs=UnreferencedInputs(
                sessions, storage, retention_days=settings.JOB_RETENTION_DAYS
            ),
        )
        self.deliverer = WebhookDeliverer(
            sessions,
            WebhookSender(settings.WEBHOOK_SECRET, settings.WEBHOOK_ALLOWED_DOMAINS),
            retry_base_s=settings.WEBHOOK_RETRY_BASE_MS / 1000,
        )

    async def start(self) -> None:
        await self.deliverer.start()
        self.reconciler.start()
        self.retention.start()

    async def stop(self) -> None:
        await self.retention.stop()
        await self.reconciler.stop()
        await self.deliverer.stop()
        await self._inspector.close()
