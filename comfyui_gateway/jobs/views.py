"""How a job looks from outside: output views and state events, shared by every face.

The REST answer, the progress stream's terminal event and the webhook body all show
outputs with the same keys, built here once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.eta.service import EtaService
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobs import store
from comfyui_gateway.storage.names import shown_storage_path


def output_url(job_id: str, stored_name: str) -> str:
    return f"/outputs/{job_id}/{stored_name}"


def output_view(output: JobOutput) -> dict[str, Any]:
    """One output as clients see it: ``{filename, storagePath, url, size, sha256, contentType}``."""
    return {
        "filename": output.filename,
        "storagePath": shown_storage_path(output.storage_path),
        "url": output_url(output.job_id, output.stored_name),
        "size": output.size,
        "sha256": output.sha256,
        "contentType": output.content_type,
    }


async def state_event(
    session: AsyncSession, job: Job, kind: EventType, etas: EtaService | None = None
) -> JobEvent:
    """The job's stored state as an event; a finished job's state is always TERMINAL.
    With ``etas`` the queue position is the fair-share one and the ETA is set."""
    terminal = job.status.is_terminal
    outputs = await store.list_outputs(session, job.id) if terminal else []
    if etas is not None and not terminal:
        eta = await etas.for_job(session, job)
        position, eta_seconds = eta.position, eta.eta_seconds
    else:
        position, eta_seconds = await store.queue_position(session, job), 0
    return JobEvent(
        type=EventType.TERMINAL if terminal else kind,
        job_id=job.id,
        status=job.status.value,
        progress=job.progress,
        queue_position=position,
        outputs=[output_view(output) for output in outputs],
        error=job.error,
        eta_seconds=eta_seconds,
    )
