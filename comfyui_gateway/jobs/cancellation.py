"""Cancelling a job, wherever it is.

- queued: taken off the queue and marked ``cancelled`` at once (a conditional update,
  so a worker that grabbed it in the same instant wins and the next branch applies);
- running: flagged ``cancel_requested``; the job's worker sees the flag on its next
  heartbeat, deletes the prompt from ComfyUI's queue or interrupts it if it is the
  one executing, and ends the job ``cancelled``;
- finished: 409 CONFLICT.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.errors import Conflict
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobs import store
from comfyui_gateway.jobs.status import JobStatus


class JobCanceller:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], queue: JobQueue, bus: EventBus
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._bus = bus

    async def cancel(self, job_id: str, owner: str | None) -> None:
        async with self._sessions() as session:
            job = await store.get_job(session, job_id, owner)
            if job.status.is_terminal:
                raise Conflict(f"Job {job_id} already finished ({job.status.value})")
            if job.status is JobStatus.QUEUED and await self._cancel_queued(session, job_id):
                return
            if await store.request_cancel(session, job_id):
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
                return
        await self._raise_if_finished(job_id, owner)

    async def _cancel_queued(self, session: AsyncSession, job_id: str) -> bool:
        await self._queue.remove(job_id)
        if not await store.cancel_queued(session, job_id):
            return False
        await store.add_log(session, job_id, "info", "Cancelled while queued")
        await self._bus.publish(
            JobEvent(type=EventType.TERMINAL, job_id=job_id, status=JobStatus.CANCELLED.value)
        )
        return True

    async def _raise_if_finished(self, job_id: str, owner: str | None) -> None:
        """Neither branch won: the job finished meanwhile."""
        async with self._sessions() as session:
            job = await store.get_job(session, job_id, owner)
        if job.status.is_terminal and job.status is not JobStatus.CANCELLED:
            raise Conflict(f"Job {job_id} already finished ({job.status.value})")
