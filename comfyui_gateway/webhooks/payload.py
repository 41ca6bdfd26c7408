"""The webhook body: ``{event, jobId, status, workflowId, result:{outputs}, error, timing,
metadata}``, serialised once to the exact bytes that are signed and sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.jobs.views import output_url
from comfyui_gateway.storage.names import shown_storage_path
from comfyui_gateway.webhooks.jsonjs import js_dumps


def event_name(status: str) -> str:
    """``job.succeeded``, ``job.failed`` or ``job.cancelled``."""
    return f"job.{status}"


def iso(moment: datetime | None) -> str | None:
    """The description's timestamps: ``2025-01-15T10:30:00.000Z`` (UTC, milliseconds)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _execution_ms(job: Job) -> int | None:
    if job.started_at is None or job.completed_at is None:
        return None
    return max(0, int((job.completed_at - job.started_at).total_seconds() * 1000))


def _output(job_id: str, output: JobOutput) -> dict[str, Any]:
    # The URL names the job the webhook is about (a cache hit's own id), as GET /jobs does.
    return {
        "filename": output.filename,
        "storagePath": shown_storage_path(output.storage_path),
        "url": output_url(job_id, output.stored_name),
        "size": output.size,
        "sha256": output.sha256,
        "contentType": output.content_type,
    }


def webhook_payload(job: Job, outputs: Sequence[JobOutput]) -> dict[str, Any]:
    """The body as a value, keys in the order they are sent."""
    status = job.status.value
    return {
        "event": event_name(status),
        "jobId": job.id,
        "status": status,
        "workflowId": job.workflow_id,
        "result": {"outputs": [_output(job.id, output) for output in outputs]},
        "error": job.error,
        "timing": {
            "createdAt": iso(job.created_at),
            "startedAt": iso(job.started_at),
            "completedAt": iso(job.completed_at),
            "executionTimeMs": _execution_ms(job),
        },
        "metadata": job.job_metadata or {},
    }


def encode(payload: dict[str, Any]) -> bytes:
    """The raw body: ``JSON.stringify`` layout, UTF-8 (see ``jsonjs``)."""
    return js_dumps(payload).encode("utf-8")
