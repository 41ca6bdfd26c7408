"""The count behind quotas: which jobs a caller holds now and admitted in the last 24 h.

``reserve`` checks both limits and records the job in one atomic step (a Lua script
on Redis, shared by every replica; plain dicts in the embedded single process), so
two concurrent creates can never both take the last slot. A job id is recorded
before its row is inserted and ``release``d if the insert fails.

Finished jobs are not removed when they finish (workers would need the ledger):
the active set is pruned lazily — when a caller meets its active limit, the gate asks
the database which of those ids are still queued or running, ``forget``s the rest and
tries once more. The daily window is pruned by time on every reservation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from comfyui_gateway.admission.quota_policy import QuotaLimits

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class QuotaCount:
    """What one reservation met: the counts after it (or at refusal) and why it failed."""

    active: int
    daily: int
    refused: str = ""
    """``""`` when reserved, else ``active`` or ``daily``: the limit that was full."""
    oldest_daily_ms: float = 0.0
    """Admission time (epoch ms) of the oldest job in the daily window, when refused
    for ``daily``: the window frees a slot when it is ``DAY_MS`` old."""
    now_ms: float = 0.0
    """The ledger's clock at the reservation (Redis's, shared by replicas)."""

    @property
    def reserved(self) -> bool:
        return not self.refused


class QuotaLedger(Protocol):
    """Per-caller active and daily job counts; see the module docstring."""

    async def reserve(self, caller: str, job_id: str, limits: QuotaLimits) -> QuotaCount: ...

    async def release(self, caller: str, job_id: str) -> None:
        """Undo a reservation whose job was never stored (both sets)."""

    async def active_ids(self, caller: str) -> list[tuple[str, float]]:
        """The caller's recorded active job ids with their admission ms, oldest first."""

    async def forget(self, caller: str, job_ids: list[str]) -> None:
        """Drop finished jobs from the caller's active set (they keep their daily slot)."""


class MemoryQuotaLedger:
    """The embedded mode's ledger: one process, so a method without ``await`` is atomic."""

    def __init__(self, *, window_ms: int = DAY_MS, clock: Callable[[], float] = time.time) -> None:
        self._window_ms = window_ms
        self._clock = clock
        self._active: dict[str, dict[str, float]] = {}
        self._daily: dict[str, dict[str, float]] = {}

    async def reserve(self, caller: str, job_id: str, limits: QuotaLimits) -> QuotaCount:
        now = self._clock() * 1000
        active = self._active.setdefault(caller, {})
        daily = self._daily.setdefault(caller, {})
        for old in [j for j, at in daily.items() if at <= now - self._window_ms]:
            del daily[old]
        if limits.active and len(active) >= limits.active:
            return QuotaCount(len(active), len(daily), "active", now_ms=now)
        if limits.daily and len(daily) >= limits.daily:
            return QuotaCount(len(active), len(daily), "daily", min(daily.values()), now)
        if limits.active:
            active[job_id] = now
        if limits.daily:
            daily[job_id] = now
        return QuotaCount(len(active), len(daily), now_ms=now)

    async def release(self, caller: str, job_id: str) -> None:
        self._active.get(caller, {}).pop(job_id, None)
        self._daily.get(caller, {}).pop(job_id, None)

    async def active_ids(self, caller: str) -> list[tuple[str, float]]:
        active = self._active.get(caller, {})
        return sorted(active.items(), key=lambda item: item[1])

    async def forget(self, caller: str, job_ids: list[str]) -> None:
        active = self._active.get(caller, {})
        for job_id in job_ids:
            active.pop(job_id, None)
