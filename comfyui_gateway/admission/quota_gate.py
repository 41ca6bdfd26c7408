"""Quota admission of one create: reserve a slot or refuse with 429 QUOTA_EXCEEDED.

    limits for (subject, role) -> ledger.reserve(job id)
      refused for active -> drop ids the database says finished -> reserve once more
      still refused      -> QuotaExceeded + Retry-After + X-Quota-* headers

What counts: a job that will run. A replayed ``requestId`` answers with the original
job before any reservation (it never counts twice); a cache hit costs no GPU work and
is not counted at all (neither active nor daily). A reservation whose row is never
inserted is released.

Retry-After: for ``active``, when the caller's soonest-finishing job should end (its
ETA; ``ACTIVE_RETRY_S`` if unknown); for ``daily``, when the oldest admission leaves
the 24 h window.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.admission.quota_ledger import DAY_MS, QuotaCount, QuotaLedger
from comfyui_gateway.admission.quota_policy import QuotaLimits, QuotaPolicy
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.errors import QuotaExceeded
from comfyui_gateway.jobs.status import TERMINAL_STATUSES, JobStatus
from comfyui_gateway.metrics import Counters, catalogue

ACTIVE_RETRY_S = 5
PENDING_GRACE_MS = 60_000
"""A recorded id with no row yet may be a concurrent create between its reservation and
its insert: it is only taken as lost (and dropped) once this old."""
"""Retry-After for a full active quota when no ETA of the caller's jobs is known."""
MAX_ACTIVE_RETRY_S = 3600
ACTIVE_LIMIT_HEADER = "x-quota-active-limit"
ACTIVE_REMAINING_HEADER = "x-quota-active-remaining"
DAILY_LIMIT_HEADER = "x-quota-daily-limit"
DAILY_REMAINING_HEADER = "x-quota-daily-remaining"
QUOTA_HEADERS = (
    ACTIVE_LIMIT_HEADER,
    ACTIVE_REMAINING_HEADER,
    DAILY_LIMIT_HEADER,
    DAILY_REMAINING_HEADER,
)

TERMINAL = frozenset(status.value for status in TERMINAL_STATUSES)
FinishEstimate = Callable[[str], Awaitable[float | None]]


@dataclass(frozen=True)
class Reservation:
    """A reserved slot (or none, for unlimited callers) and the headers to answer with."""

    caller: str = ""
    job_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        return bool(self.job_id)


class QuotaGate:
    """See the module docstring::

    gate = QuotaGate(policy, MemoryQuotaLedger(), sessions)
    reservation = await gate.reserve("key:1a2b3c4d", "user", job_id)   # or QuotaExceeded
    """

    def __init__(
        self,
        policy: QuotaPolicy,
        ledger: QuotaLedger,
        sessions: async_sessionmaker[AsyncSession],
        *,
        finish_estimate: FinishEstimate | None = None,
        counters: Counters | None = None,
        window_ms: int = DAY_MS,
    ) -> None:
        self._policy = policy
        self._ledger = ledger
        self._sessions = sessions
        self._finish_estimate = finish_estimate
        self._counters = counters
        self._window_ms = window_ms

    async def reserve(self, caller: str, role: str, job_id: str) -> Reservation:
        limits = self._policy.limits_for(caller, role)
        if limits.unlimited:
            return Reservation()
        count = await self._ledger.reserve(caller, job_id, limits)
        if count.refused == "active" and await self._prune(caller, count.now_ms):
            count = await self._ledger.reserve(caller, job_id, limits)
        headers = quota_headers(limits, count)
        if count.reserved:
            return Reservation(caller, job_id, headers)
        if self._counters is not None:
            labels = {"reason": f"quota_{count.refused}"}
            await self._counters.increment(catalogue.ADMISSION_REJECTIONS.name, labels)
        raise await self._refusal(caller, limits, count, headers)

    async def release(self, reservation: Reservation) -> None:
        if reservation.held:
            await self._ledger.release(reservation.caller, reservation.job_id)

    async def _prune(self, caller: str, now_ms: float) -> bool:
        """Drop the caller's finished (or long-lost) jobs from its active set; True if any."""
        recorded = await self._ledger.active_ids(caller)
        async with self._sessions() as session:
            states = await job_states(session, [job_id for job_id, _ in recorded])
        gone = [
            job_id
            for job_id, admitted_ms in recorded
            if states.get(job_id, "") in TERMINAL
            or (job_id not in states and now_ms - admitted_ms > PENDING_GRACE_MS)
        ]
        await self._ledger.forget(caller, gone)
        return bool(gone)

    async def _refusal(
        self, caller: str, limits: QuotaLimits, count: QuotaCount, headers: dict[str, str]
    ) -> QuotaExceeded:
        if count.refused == "daily":
            wait_ms = count.oldest_daily_ms + self._window_ms - count.now_ms
            retry_s = math.ceil(max(0.0, wait_ms) / 1000)
            message = f"Daily job quota of {limits.daily} reached (rolling 24 h)"
        else:
            retry_s = await self._active_retry_s(caller)
            message = f"Active job quota of {limits.active} reached (queued + running)"
        details = {"quota": count.refused, "limit": getattr(limits, count.refused)}
        return QuotaExceeded(
            f"{message}; retry after {max(1, retry_s)} s",
            retry_after_s=retry_s,
            headers=headers,
            details=details,
        )

    async def _active_retry_s(self, caller: str) -> int:
        if self._finish_estimate is None:
            return ACTIVE_RETRY_S
        estimates = [
            seconds
            for job_id, _ in (await self._ledger.active_ids(caller))[:3]
            if (seconds := await self._finish_estimate(job_id)) is not None
        ]
        if not estimates:
            return ACTIVE_RETRY_S
        return min(MAX_ACTIVE_RETRY_S, max(1, math.ceil(min(estimates))))


def quota_headers(limits: QuotaLimits, count: QuotaCount) -> dict[str, str]:
    """``X-Quota-{Active,Daily}-{Limit,Remaining}`` for the limits that apply."""
    headers: dict[str, str] = {}
    if limits.active:
        headers[ACTIVE_LIMIT_HEADER] = str(limits.active)
        headers[ACTIVE_REMAINING_HEADER] = str(max(0, limits.active - count.active))
    if limits.daily:
        headers[DAILY_LIMIT_HEADER] = str(limits.daily)
        headers[DAILY_REMAINING_HEADER] = str(max(0, limits.daily - count.daily))
    return headers


async def job_states(session: AsyncSession, job_ids: list[str]) -> dict[str, str]:
    """The status of each of ``job_ids`` that has a row (the lazy prune's question)."""
    if not job_ids:
        return {}
    rows = await session.execute(select(Job.id, Job.status).where(Job.id.in_(job_ids)))
    return {job_id: JobStatus(status).value for job_id, status in rows.all()}
