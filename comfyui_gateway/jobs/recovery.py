"""The reconciler: no accepted job is lost, none stays ``running`` for ever.

Every ``interval_s`` one sweep (one process at a time, see ``SweepLock``):

1. **Timed out** — a job ``running`` longer than ``COMFYUI_TIMEOUT_MS`` plus a grace
   period fails with COMFYUI_TIMEOUT, whatever its worker is doing (its prompt is
   cancelled on ComfyUI, best effort).
2. **Abandoned** — a ``running`` job whose heartbeat is older than ``stale_s`` (its
   worker died) is claimed (a conditional update, so one reconciler acts) and handed to
   the ``PromptInspector``, which asks its ComfyUI's ``/history/{prompt_id}`` first:
   finished work is collected, not rerun; a prompt still queued or executing there is
   left to finish and looked at again later. When ComfyUI knows nothing of it, the job
   goes back to the queue (``attempt`` counts the runs) until ``max_attempts``, then
   fails COMFYUI_UNREACHABLE.
3. **Lost** — a ``queued`` job that no queue holds (Redis restarted or flushed, an
   enqueue that failed after the commit, an embedded process that restarted) is
   enqueued again. A duplicate entry is harmless: a worker only claims a job that is
   still ``queued``.

Every terminal transition is the store's conditional update, so if the "dead" worker
was only slow, exactly one of the two finishes the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.errors import ComfyUITimeout, ComfyUIUnreachable, GatewayError
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobs import store, transitions
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.privacy import Privacy
from comfyui_gateway.scheduling.entry import entry_for_job

log = logging.getLogger("comfyui_gateway.recovery")


class PromptFate(enum.StrEnum):
    """What the inspector found about an abandoned job's prompt."""

    SETTLED = "settled"  # it had finished on ComfyUI: the inspector ended the job
    ACTIVE = "active"  # still queued or executing on ComfyUI: look again later
    UNKNOWN = "unknown"  # ComfyUI does not know it (or cannot be reached): run it again


class PromptInspector(Protocol):
    """The worker side of recovery: it speaks to ComfyUI, the reconciler does not."""

    async def settle(self, job: Job) -> PromptFate:
        """Look the job's prompt up; if it finished, end the job as the runner would."""

    async def cancel(self, job: Job) -> None:
        """Remove or interrupt the job's prompt on ComfyUI (best effort)."""


class SweepLock(Protocol):
    """Lets one process of many sweep; ``acquire`` is called before every sweep."""

    async def acquire(self) -> bool: ...

    async def release(self) -> None: ...


@dataclass(frozen=True)
class ReconcilerConfig:
    interval_s: float
    stale_s: float
    """Heartbeat age after which a running job's worker is taken for dead."""
    run_limit_s: float
    """``COMFYUI_TIMEOUT_MS`` plus grace: no job runs longer."""
    claimer: str = "reconciler"


@dataclass
class SweepReport:
    """What one sweep did, by job id (tests and logs read it)."""

    timed_out: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reenqueued: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(vars(self).values())


class Reconciler:
    """Periodic sweeps; ``start()`` runs them in a task, ``sweep()`` runs one now."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queue: JobQueue,
        bus: EventBus,
        inspector: PromptInspector,
        config: ReconcilerConfig,
        lock: SweepLock | None = None,
        privacy: Privacy | None = None,
    ) -> None:
        self._sessions = sessions
        self._privacy = privacy
        self._queue = queue
        self._bus = bus
        self._inspector = inspector
        self._config = config
        self._lock = lock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._lock is not None:
            with contextlib.suppress(Exception):
                await self._lock.release()

    async def _loop(self) -> None:
        while True:
            try:
                if self._lock is None or await self._lock.acquire():
                    report = await self.sweep()
                    if report:
                        log.info("reconciler sweep", extra={"report": vars(report)})
            except Exception:  # a sweep that fails (database down) is retried next time
                log.exception("reconciler sweep failed")
            await asyncio.sleep(self._config.interval_s)

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        now = utcnow()
        async with self._sessions() as session:
            running = await store.running_jobs(session)
        limit = now - timedelta(seconds=self._config.run_limit_s)
        stale_before = now - timedelta(seconds=self._config.stale_s)
        for job in running:
            if job.started_at is not None and job.started_at < limit:
                await self._time_out(job, report)
            elif job.heartbeat_at is None or job.heartbeat_at < stale_before:
                await self._recover(job, stale_before, report)
        await self._reenqueue_lost(now - timedelta(seconds=self._config.interval_s), report)
        return report

    async def _time_out(self, job: Job, report: SweepReport) -> None:
        seconds = self._config.run_limit_s
        error = ComfyUITimeout(
            f"Job ran longer than COMFYUI_TIMEOUT_MS plus grace ({seconds:g} s)",
            details={"timeoutSeconds": seconds},
        )
        if await self._end(job, JobStatus.FAILED, error.to_job_error(), "Timed out"):
            report.timed_out.append(job.id)
            with contextlib.suppress(Exception):
                await self._inspector.cancel(job)

    async def _recover(self, job: Job, stale_before: Any, report: SweepReport) -> None:
        async with self._sessions() as session:
            claimed = await transitions.claim_abandoned(
                session,
                job.id,
                attempt=job.attempt,
                stale_before=stale_before,
                claimer=self._config.claimer,
            )
        if not claimed:
            return
        try:
            fate = await self._inspector.settle(job)
        except GatewayError as exc:
            log.warning("could not inspect job %s: %s", job.id, exc.message)
            fate = PromptFate.UNKNOWN
        if fate is PromptFate.SETTLED:
            report.settled.append(job.id)
        elif fate is PromptFate.ACTIVE:
            report.active.append(job.id)
        elif job.cancel_requested:
            await self._end(job, JobStatus.CANCELLED, None, "Cancelled (its worker had stopped)")
        elif job.attempt < job.max_attempts:
            await self._requeue(job, report)
        else:
            error = ComfyUIUnreachable(
                f"The job's worker stopped and {job.attempt} attempt(s) are used up",
                details={"attempts": job.attempt, "reason": "worker_lost"},
            )
            if await self._end(job, JobStatus.FAILED, error.to_job_error(), "Failed"):
                report.failed.append(job.id)

    async def _requeue(self, job: Job, report: SweepReport) -> None:
        async with self._sessions() as session:
            if not await transitions.requeue(session, job.id, attempt=job.attempt):
                return
            await store.add_log(
                session,
                job.id,
                "warn",
                f"Worker stopped during attempt {job.attempt} and ComfyUI has no record of "
                "its prompt; queued again",
            )
        await self._queue.enqueue(entry_for_job(job, self._privacy))
        await self._publish(JobEvent(type=EventType.STATUS, job_id=job.id, status="queued"))
        report.requeued.append(job.id)

    async def _reenqueue_lost(self, queued_before: Any, report: SweepReport) -> None:
        async with self._sessions() as session:
            waiting = await store.queued_before(session, queued_before)
        for job in waiting:
            if await self._queue.contains(job.id):
                continue
            async with self._sessions() as session:
                current = await store.get_job(session, job.id)
                if current.status is not JobStatus.QUEUED:  # a worker took it meanwhile
                    continue
                await self._queue.enqueue(entry_for_job(current, self._privacy))
                report.reenqueued.append(job.id)
                message = "Queue had lost the job; enqueued again"
                await store.add_log(session, job.id, "warn", message)

    async def _end(
        self, job: Job, status: JobStatus, error: dict[str, Any] | None, line: str
    ) -> bool:
        async with self._sessions() as session:
            won = await transitions.finish(
                session, job.id, attempt=job.attempt, status=status, error=error
            )
            if not won:
                return False
            detail = f" - {error['message']}" if error else ""
            await store.add_log(session, job.id, "error" if error else "info", f"{line}{detail}")
        await self._publish(
            JobEvent(
                type=EventType.TERMINAL,
                job_id=job.id,
                status=status.value,
                progress=job.progress,
                error=error,
            )
        )
        return True

    async def _publish(self, event: JobEvent) -> None:
        try:
            await self._bus.publish(event)
        except Exception:  # events are best effort; the database is the truth
            log.warning("could not publish a %s event for job %s", event.type.value, event.job_id)
