"""Job slots of one backend in the embedded mode, fed by the in-process queue.

``MAX_CONCURRENCY`` slots per backend means that many prompts can sit in that
ComfyUI's own queue at once: while one job's outputs are downloaded and stored, the
next prompt is already running on the GPU. A slot takes a job only while its
backend's monitor says the backend is reachable, and takes the one the scheduler picks
for its backend (``InProcessJobQueue.take(backend)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from comfyui_gateway.jobqueue.memory import InProcessJobQueue
from worker.monitor import BackendMonitor
from worker.runner import JobRunner

log = logging.getLogger("comfyui_gateway.worker.pool")


class BackendSlots:
    """``concurrency`` tasks, each running one job at a time on ``runner``'s backend."""

    def __init__(
        self,
        runner: JobRunner,
        queue: InProcessJobQueue,
        monitor: BackendMonitor,
        concurrency: int,
    ) -> None:
        self._runner = runner
        self._queue = queue
        self._monitor = monitor
        self._concurrency = concurrency
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._slot(), name=f"slot {self._runner.backend_url} #{index}")
            for index in range(self._concurrency)
        ]

    async def stop(self) -> None:
        """Stop taking jobs; a job cut short stays ``running`` until recovery picks it up."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _slot(self) -> None:
        backend = self._runner.backend_url
        while True:
            if not self._monitor.reachable:
                self._queue.forget(backend)  # a restarted ComfyUI holds no model
            await self._monitor.wait_reachable()
            job_id = await self._queue.take(backend)
            if not self._monitor.reachable:  # went down while this slot waited for work
                self._queue.forget(backend)
                await self._queue.put_back(job_id)
                continue
            try:
                await self._runner.run(job_id)
            except Exception:  # the slot must survive any one job
                log.exception("job %s escaped its runner", job_id)
            finally:
                self._queue.done(job_id)
