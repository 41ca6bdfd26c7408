"""Job rows and events as protobuf messages (the JSON shapes of SPEC §3)."""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.events import JobEvent
from comfyui_gateway.jobs.views import output_view
from comfyui_gateway.v1 import common_pb2, jobs_pb2
from server.convert import struct_from, timestamp_from


def output_message(output: JobOutput) -> common_pb2.Output:
    return output_from_view(output_view(output))


def error_message(error: dict[str, Any] | None) -> common_pb2.JobError | None:
    if not error:
        return None
    return common_pb2.JobError(
        code=str(error.get("code", "")),
        message=str(error.get("message", "")),
        retryable=bool(error.get("retryable", False)),
        details=struct_from(_as_object(error.get("details"))),
    )


def _as_object(details: Any) -> dict[str, Any] | None:
    if details is None:
        return None
    return details if isinstance(details, dict) else {"items": details}


def _execution_ms(started: datetime | None, completed: datetime | None) -> int | None:
    if started is None or completed is None:
        return None
    return max(0, int((completed - started).total_seconds() * 1000))


def job_message(
    job: Job, outputs: Sequence[JobOutput], queue_position: int = 0, eta_seconds: int = 0
) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        job_id=job.id,
        status=job.status.value,
        workflow_id=job.workflow_id,
        progress=round(job.progress, 2),
        outputs=[output_message(output) for output in outputs],
        error=error_message(job.error),
        timing=common_pb2.Timing(
            created_at=timestamp_from(job.created_at),
            started_at=timestamp_from(job.started_at),
            completed_at=timestamp_from(job.completed_at),
            execution_time_ms=_execution_ms(job.started_at, job.completed_at),
        ),
        metadata=struct_from(job.job_metadata or {}),
        priority=job.priority.value,
        inputs=struct_from(job.inputs or {}),
        attempt=job.attempt,
        queue_position=queue_position,
        output_format=output_format_message(job.output_format),
        previews=bool(job.previews),
        eta_seconds=eta_seconds,
    )


def output_format_message(record: dict[str, Any] | None) -> jobs_pb2.OutputFormat | None:
    if not record:
        return None
    return jobs_pb2.OutputFormat(
        format=str(record.get("format", "")), quality=int(record.get("quality", 0))
    )


class EventMessages:
    """``event_message`` remembered for the latest events, keyed by the event object.

    A bus hands every watcher of a job the same ``JobEvent`` object, so a thousand
    streams of one job would otherwise build the same message a thousand times. The
    entry keeps the event alive, so its ``id`` cannot be reused while cached; messages
    are only serialized by gRPC, never changed.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._cache: OrderedDict[int, tuple[JobEvent, jobs_pb2.JobEvent]] = OrderedDict()

    def message(self, event: JobEvent) -> jobs_pb2.JobEvent:
        key = id(event)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is event:
            return cached[1]
        message = event_message(event)
        self._cache[key] = (event, message)
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return message


def event_message(event: JobEvent) -> jobs_pb2.JobEvent:
    return jobs_pb2.JobEvent(
        type=event.type.value,
        job_id=event.job_id,
        status=event.status,
        progress=round(event.progress, 2),
        node=event.node,
        node_type=event.node_type,
        step=event.step,
        max_steps=event.max_steps,
        queue_position=event.queue_position,
        outputs=[output_from_view(item) for item in event.outputs],
        error=error_message(event.error),
        timestamp=timestamp_from(datetime.fromtimestamp(event.timestamp).astimezone()),
        message=event.message,
        preview=preview_message(event.preview),
        eta_seconds=event.eta_seconds,
    )


def preview_message(preview: dict[str, Any] | None) -> jobs_pb2.PreviewFrame | None:
    if not preview:
        return None
    return jobs_pb2.PreviewFrame(
        content_type=str(preview.get("contentType", "")),
        data=base64.b64decode(str(preview.get("data", ""))),
        width=int(preview.get("width", 0)),
        height=int(preview.get("height", 0)),
    )


def output_from_view(item: dict[str, Any]) -> common_pb2.Output:
    return common_pb2.Output(
        filename=str(item.get("filename", "")),
        storage_path=str(item.get("storagePath", "")),
        url=str(item.get("url", "")),
        size=int(item.get("size", 0)),
        sha256=str(item.get("sha256", "")),
        content_type=str(item.get("contentType", "")),
    )
