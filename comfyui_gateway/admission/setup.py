"""Everything a create passes before it is stored, built once from the settings.

``JobAdmission`` is what ``JobSubmitter`` calls: the queue-depth check, the quota
reservation (and its release when the insert fails) and the accepted job's ETA.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.admission.backpressure import QueueGate
from comfyui_gateway.admission.quota_gate import QuotaGate, Reservation
from comfyui_gateway.admission.quota_ledger import MemoryQuotaLedger, QuotaLedger
from comfyui_gateway.admission.quota_redis import RedisQuotaLedger
from comfyui_gateway.backends import BackendReports
from comfyui_gateway.config import Settings
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.eta.service import EtaService, JobEta
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.metrics import Counters


@dataclass(frozen=True)
class JobAdmission:
    """Quotas, back-pressure and ETAs for ``JobSubmitter``; see the module docstring."""

    quotas: QuotaGate
    queue: QueueGate
    etas: EtaService
    sessions: async_sessionmaker[AsyncSession]

    async def check_queue(self, priority: JobPriority) -> None:
        await self.queue.check(priority)

    async def reserve(self, owner: str, role: str, job_id: str) -> Reservation:
        return await self.quotas.reserve(owner, role, job_id)

    async def release(self, reservation: Reservation) -> None:
        await self.quotas.release(reservation)

    async def eta(self, job: Job) -> JobEta:
        async with self.sessions() as session:
            return await self.etas.for_job(session, job, fresh=True)


def build_job_admission(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    reports: BackendReports | None,
    redis: Redis | None,
    counters: Counters | None = None,
) -> JobAdmission:
    """Redis ledger when ``redis`` is given (shared by replicas), memory otherwise.

    ``sessions`` only ever read (the ETAs, the quota gate's prune): the server passes
    autocommit ones, one round trip a query on PostgreSQL."""
    etas = EtaService(sessions, reports, settings.comfyui_urls, settings.MAX_CONCURRENCY)
    ledger: QuotaLedger = (
        RedisQuotaLedger(redis, namespace=settings.REDIS_NAMESPACE)
        if redis is not None
        else MemoryQuotaLedger()
    )
    quotas = QuotaGate(
        settings.quota_policy,
        ledger,
        sessions,
        finish_estimate=etas.finish_seconds,
        counters=counters,
    )
    gate = QueueGate(
        settings.queue_depth_limits,
        queue,
        drain_rate=etas.drain_per_second,
        service_rate=etas.service_rate,
        counters=counters,
    )
    return JobAdmission(quotas, gate, etas, sessions)
