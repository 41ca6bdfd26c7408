"""The worker side of recovery: what ComfyUI says about an abandoned job's prompt.

The prompt id is deterministic per (job, attempt) (``runner.prompt_id_for``), so even a
worker that died before recording it can be looked up. ``/history`` first: a finished
prompt is collected exactly as the runner would have (``collect``), a failed or
interrupted one ends the job with the same classification. Not in history: ComfyUI's
queue says whether it is still pending or executing (then it is left to finish).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.errors import ComfyUIError
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobs import store, transitions
from comfyui_gateway.jobs.recovery import PromptFate
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.jobs.views import output_view
from comfyui_gateway.outputs.pipeline import job_policy
from comfyui_gateway.storage.base import Storage
from worker.collect import collect_and_succeed
from worker.comfyui import ClientConfig, ComfyUIClient, Failed, Finished, Interrupted
from worker.comfyui.follow import terminal_from_history
from worker.runner import prompt_id_for

log = logging.getLogger("comfyui_gateway.worker.recovery")


class HistoryInspector:
    """Implements ``jobs.recovery.PromptInspector`` with one client per backend URL."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        bus: EventBus,
        client_config: ClientConfig,
        cache_ttl_s: int,
        strip_metadata: bool = False,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._bus = bus
        self._client_config = client_config
        self._cache_ttl_s = cache_ttl_s
        self._strip_metadata = strip_metadata
        self._clients: dict[str, ComfyUIClient] = {}

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def _client(self, url: str) -> ComfyUIClient:
        client = self._clients.get(url)
        if client is None:
            client = ComfyUIClient(url, self._client_config)
            await client.start()
            self._clients[url] = client
        return client

    @staticmethod
    def prompt_id(job: Job) -> str:
        return job.comfy_prompt_id or prompt_id_for(job.id, job.attempt)

    async def settle(self, job: Job) -> PromptFate:
        if not job.backend_url:
            return PromptFate.UNKNOWN
        client = await self._client(job.backend_url)
        prompt_id = self.prompt_id(job)
        try:
            record = await client.history(prompt_id)
            if record is None:
                snapshot = await client.queue()
                if snapshot.is_pending(prompt_id) or snapshot.is_running(prompt_id):
                    if job.cancel_requested:
                        await client.cancel(prompt_id)
                    return PromptFate.ACTIVE
                record = await client.history(prompt_id)  # finished in between?
        except ComfyUIError as exc:
            log.warning("backend %s cannot tell about job %s: %s", job.backend_url, job.id, exc)
            return PromptFate.UNKNOWN
        if record is None:
            return PromptFate.UNKNOWN
        await self._settle(client, job, terminal_from_history(record))
        return PromptFate.SETTLED

    async def _settle(self, client: ComfyUIClient, job: Job, terminal: object) -> None:
        if isinstance(terminal, Finished):
            outputs = await collect_and_succeed(
                sessions=self._sessions,
                client=client,
                storage=self._storage,
                job_id=job.id,
                attempt=job.attempt,
                refs=terminal.outputs,
                cache_ttl_s=self._cache_ttl_s,
                policy=job_policy(job.output_format, strip=self._strip_metadata),
            )
            if outputs is None:
                return
            await self._log(job, "info", f"Recovered: outputs stored: {len(outputs)} file(s)")
            await self._publish(
                JobEvent(
                    type=EventType.TERMINAL,
                    job_id=job.id,
                    status=JobStatus.SUCCEEDED.value,
                    progress=100.0,
                    outputs=[output_view(output) for output in outputs],
                )
            )
            return
        if isinstance(terminal, Failed):
            status, error = JobStatus.FAILED, terminal.error.to_job_error()
        elif isinstance(terminal, Interrupted):
            status, error = JobStatus.CANCELLED, None
        else:  # pragma: no cover - terminal_from_history returns one of the three
            return
        async with self._sessions() as session:
            won = await transitions.finish(
                session, job.id, attempt=job.attempt, status=status, error=error
            )
        if won:
            detail = f" - {error['message']}" if error else ""
            await self._log(job, "error" if error else "info", f"Recovered: {status.value}{detail}")
            await self._publish(
                JobEvent(type=EventType.TERMINAL, job_id=job.id, status=status.value, error=error)
            )

    async def cancel(self, job: Job) -> None:
        if job.backend_url:
            client = await self._client(job.backend_url)
            await client.cancel(self.prompt_id(job))

    async def _log(self, job: Job, level: str, message: str) -> None:
        async with self._sessions() as session:
            await store.add_log(session, job.id, level, message)

    async def _publish(self, event: JobEvent) -> None:
        try:
            await self._bus.publish(event)
        except Exception:  # events are best effort
            log.warning("could not publish a recovery event for job %s", event.job_id)
