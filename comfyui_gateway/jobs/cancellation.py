"""Cancelling a job, wherever it is.

- queued: taken off the queue and marked ``cancelled`` at once (a conditional update,
  so a worker that grabbed it in the same instant wins and the next branch applies);
  the answer says ``cancelled``;
- running: flagged ``cancel_requested``; the job's worker sees the flag on its next
  heartbeat, deletes the prompt from ComfyUI's queue or interrupts it if it is the
  one executing, and ends the job ``cancelled``. Until then the answer says
  ``cancelling``: nothing is cancelled before the worker confirms;
- finished: 409 CONFLICT.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.errors import Conflict
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobs import store, transitions
from comfyui_gateway.jobs.status import JobStatus

CANCELLING = "cancelling"
"""The answer for a running job: asked, not yet confirmed by its worker."""


class JobCanceller:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], queue: JobQueue, bus: EventBus
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._bus = bus

    async def cancel(self, job_id: str, owner: str | None) -> str:
        """Cancel or ask to; return ``cancelled`` (done) or ``cancelling`` (asked)."""
        async with self._sessions() as session:
            job = await store.get_job(session, job_id, owner)
            if job.status.is_terminal:
                raise Conflict(f"Job {job_id} already finished ({job.status.value})")
            if job.status is JobStatus.QUEUED and await self._cancel_queued(session, job_id):
                return JobStatus.CANCELLED.value
            if await transitions.request_cancel(session, job_id):
                await store.add_log(session, job_id, "info", "Cancellation requested")
                await self._bus.publish(
                    JobEvent(
                        type=EventType.STATUS,
                        job_id=job_id,
                        status=JobStatus.RUNNING.value,
                        progress=job.progress,
                        message="Cancellation requested",
                    )
                )
                return CANCELLING
        return await self._status_if_not_finished(job_id, owner)

    async def _cancel_queued(self, session: AsyncSession, job_id: str) -> bool:
        await self._queue.remove(job_id)
        if not await transitions.cancel_queued(session, job_id):
            return False
        await store.add_log(session, job_id, "info", "Cancelled while queued")
        await self._bus.publish(
            JobEvent(type=EventType.TERMINAL, job_id=job_id, status=JobStatus.CANCELLED.value)
        )
        return True

    async def _status_if_not_finished(self, job_id: str, owner: str | None) -> str:
        """Neither branch won: the job finished meanwhile (409 unless it was cancelled)."""
        async with self._sessions() as session:
            job = await store.get_job(session, job_id, owner)
        if job.status.is_terminal and job.status is not JobStatus.CANCELLED:
            raise Conflict(f"Job {job_id} already finished ({job.status.value})")
        return JobStatus.CANCELLED.value if job.status.is_terminal else CANCELLING
