"""Helpers for the delivery-guarantee tests; the fixture is in ``tests.delivery_fixtures``.

``GatewayCore`` is the job machinery without gRPC: a migrated database, the bundled
workflows registered, an in-process ComfyUI emulator, local storage in a temp folder,
the in-process queue and event bus, a ``JobSubmitter`` and a ``JobRunner`` on the
emulator — all real.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_emulator import Emulator
from comfyui_gateway.db.models import Job, JobOutput
from comfyui_gateway.eventbus import MemoryEventBus
from comfyui_gateway.jobqueue import InProcessJobQueue
from comfyui_gateway.jobs import store
from comfyui_gateway.jobs.submission import JobRequest, JobSubmitter
from comfyui_gateway.storage.local import LocalStorage
from worker.comfyui import ComfyUIClient
from worker.runner import JobRunner

SMALL = {"width": 64, "height": 64, "steps": 2}
CACHE_TTL_S = 3600


@dataclass
class GatewayCore:
    sessions: async_sessionmaker[AsyncSession]
    emulator: Emulator
    client: ComfyUIClient
    storage: LocalStorage
    queue: InProcessJobQueue
    bus: MemoryEventBus
    submitter: JobSubmitter
    runner: JobRunner

    def request(self, prompt: str = "a fox", **fields: Any) -> JobRequest:
        inputs = {"prompt": prompt, "seed": 7, **SMALL, **fields.pop("inputs", {})}
        return JobRequest(workflow_id="icon_512", inputs=inputs, **fields)

    async def job(self, job_id: str) -> Job:
        async with self.sessions() as session:
            return await store.get_job(session, job_id)

    async def outputs(self, job_id: str) -> list[JobOutput]:
        async with self.sessions() as session:
            return list(await store.list_outputs(session, job_id))

    async def count_jobs(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count(Job.id))) or 0)

    async def run_queued(self) -> list[str]:
        """Run every job waiting in the in-process queue, as an embedded slot would."""
        ran = []
        while sum((await self.queue.depth()).values()):
            job_id = await self.queue.take()
            await self.runner.run(job_id)
            ran.append(job_id)
        return ran

    async def prompts_in_history(self) -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.emulator.base_url}/history") as response,
        ):
            return len(await response.json())
