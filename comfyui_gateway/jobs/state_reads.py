"""Reads of a job's stored state, shared by everyone watching that job.

A watcher reads the database for its snapshot and, while its stream is quiet, every
few seconds to catch a terminal event the bus may have missed. A thousand watchers of
one job made that a thousand reads per round (three queries each), and the reads
starved the event loop that was meant to deliver the job's events. Here the watchers
of a job share:

- a **snapshot** read in flight, if it started after the caller subscribed (so the
  subscribe-then-read order still guarantees nothing published is lost);
- a **recheck** read started in the current ``recheck_fresh_s`` window (windows fall at
  the same instants for every watcher), in flight or done (a fallback for a lost
  terminal event tolerates a second-old answer).

The watchers of a waiting job recheck on shared ticks (``recheck_due_in``): they wake
together, share one fresh read and see a new queue position within one delivery
round of its being read. On timers of their own (from when each attached) they took
turns at one read for up to a second, each showing an older position than the last;
and a read is shared within its window only, so a tick whose first read started late
(a busy loop) does not hand the next tick's watchers a position nearly a second old.

The job is read without an owner filter and the caller's owner is checked afterwards,
so sharing never shows one caller's job to another (JobNotFound, like ``get_job``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.errors import JobNotFound
from comfyui_gateway.eta.service import EtaService
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobs import store
from comfyui_gateway.jobs.views import state_event

RECHECK_FRESH_S = 1.0
DUE_MARGIN_S = 0.005
"""A tick's wake-ups come this long after it, never before: a wake-up just before the
tick would reuse the previous tick's read."""


@dataclass
class _Read:
    started: float
    result: asyncio.Future[tuple[str, JobEvent]]


class JobStateReads:
    """Shared state reads; one per process (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        recheck_fresh_s: float = RECHECK_FRESH_S,
        *,
        etas: EtaService | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._etas = etas
        self._fresh_s = recheck_fresh_s
        self._latest: dict[tuple[str, EventType], _Read] = {}

    async def read(
        self,
        job_id: str,
        owner: str | None,
        kind: EventType,
        *,
        not_before: float,
        recheck: bool = False,
    ) -> JobEvent:
        """The job's state as a ``kind`` event, from a read that started at or after
        ``not_before`` (``time.monotonic()``); a ``recheck`` also takes one that started
        in the current ``recheck_fresh_s`` window."""
        key = (job_id, kind)
        entry = self._latest.get(key)
        if entry is None or not self._usable(entry, recheck, not_before):
            entry = _Read(self._clock(), asyncio.ensure_future(self._load(job_id, kind)))
            self._latest[key] = entry
            entry.result.add_done_callback(lambda _: self._finish(key, entry))
        job_owner, event = await asyncio.shield(entry.result)
        if owner is not None and job_owner != owner:
            raise JobNotFound(f"Job {job_id} not found")
        return event

    def recheck_due_in(self, interval_s: float, now: float | None = None) -> float:
        """Seconds from ``now`` (``time.monotonic()``) to the next recheck tick: ticks
        fall every ``interval_s`` (at least ``recheck_fresh_s``, so a tick's first read
        is a new one) at the same instants for every watcher in this process."""
        period = max(interval_s, self._fresh_s)
        clock = self._clock() if now is None else now
        return period - clock % period + DUE_MARGIN_S

    def _usable(self, entry: _Read, recheck: bool, not_before: float) -> bool:
        if entry.started >= not_before:
            return True
        if not recheck:
            return False
        now = self._clock()
        return entry.started >= now - now % self._fresh_s

    def _finish(self, key: tuple[str, EventType], entry: _Read) -> None:
        failed = entry.result.cancelled() or entry.result.exception() is not None
        if failed or self._latest.get(key) is not entry:
            self._forget(key, entry)
            return
        # Kept only while it can still be reused.
        asyncio.get_running_loop().call_later(self._fresh_s, self._forget, key, entry)

    def _forget(self, key: tuple[str, EventType], entry: _Read) -> None:
        if self._latest.get(key) is entry:
            del self._latest[key]

    async def _load(self, job_id: str, kind: EventType) -> tuple[str, JobEvent]:
        async with self._sessions() as session:
            job = await store.get_job(session, job_id, None)
            return job.owner, await state_event(session, job, kind, self._etas)
