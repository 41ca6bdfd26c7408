"""Request messages from plain Python values, shared by the sync and asyncio clients."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from comfyui_gateway_client.v1 import jobs_pb2

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


def struct(values: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    if values is None:
        return None
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def create_job(
    workflow_id: str,
    inputs: Mapping[str, Any],
    *,
    params: Mapping[str, Any] | None,
    priority: str,
    callback_url: str,
    metadata: Mapping[str, Any] | None,
    request_id: str | None,
    output_format: str = "",
    quality: int = 0,
    previews: bool = False,
) -> jobs_pb2.CreateJobRequest:
    """A CreateJobRequest that is always idempotent: ``metadata.requestId`` is set.

    The gateway answers a repeated requestId from the same caller with the original
    job, so a retry after a lost answer never runs the work twice.
    """
    meta = dict(metadata or {})
    meta.setdefault("requestId", request_id or str(uuid.uuid4()))
    return jobs_pb2.CreateJobRequest(
        workflow_id=workflow_id,
        inputs=struct(inputs),
        params=struct(params),
        priority=priority,
        callback_url=callback_url,
        metadata=struct(meta),
        output_format=(
            jobs_pb2.OutputFormat(format=output_format, quality=quality) if output_format else None
        ),
        previews=previews,
    )


def list_jobs(
    *,
    status: str,
    workflow_id: str,
    after: datetime | None,
    before: datetime | None,
    limit: int,
    offset: int,
) -> jobs_pb2.ListJobsRequest:
    return jobs_pb2.ListJobsRequest(
        status=status,
        workflow_id=workflow_id,
        after=timestamp(after),
        before=timestamp(before),
        limit=limit,
        offset=offset,
    )
