"""The 200 of a synchronous create (``Prefer: wait=N``): the finished job in one answer.

It reads like ``GET /jobs/{jobId}`` inside the create's shape (``jobId``, ``status``,
``pollUrl``, ``outputs`` with URLs, plus ``workflowId``, ``progress``, ``error``,
``timing``, ``metadata``, ``priority``). With ``return=representation`` and
``outputEncoding: "base64"`` each output also carries its bytes (``data``) while the
total stays under ``INLINE_MAX_BYTES``; past that the answer keeps the URLs only and
no ``Preference-Applied`` header says the bytes were left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.jobs import store
from comfyui_gateway.jobs.waiting import INLINE_MAX_BYTES
from comfyui_gateway.storage import Storage
from comfyui_gateway.v1 import common_pb2, jobs_pb2
from server.call_scope import add_response_header
from server.deps import ServerDeps
from server.services.job_messages import job_message, output_message

PREFERENCE_APPLIED = "preference-applied"


async def finished_answer(
    deps: ServerDeps,
    job_id: str,
    owner: str | None,
    *,
    inline: bool,
    status: str | None = None,
) -> jobs_pb2.CreateJobResponse:
    """The create answer for a finished job; ``status`` overrides it (``cache_hit``)."""
    async with deps.sessions() as session:
        job = await store.get_job(session, job_id, owner)
        outputs = await store.list_outputs(session, job.id)
    folder = job.cached_from_job_id or job.id
    full = job_message(job, outputs)
    messages = [output_message(output) for output in outputs]
    if inline and await _attach_data(deps.storage, folder, outputs, messages):
        add_response_header(PREFERENCE_APPLIED, "return=representation")
    answer = jobs_pb2.CreateJobResponse(
        job_id=job.id,
        status=status or full.status,
        eta_seconds=0,
        poll_url=f"/jobs/{job.id}",
        outputs=messages,
        workflow_id=full.workflow_id,
        progress=full.progress,
        timing=full.timing,
        metadata=full.metadata,
        priority=full.priority,
    )
    if full.HasField("error"):
        answer.error.CopyFrom(full.error)
    return answer


async def _attach_data(
    storage: Storage,
    folder: str,
    outputs: Sequence[JobOutput],
    messages: Sequence[common_pb2.Output],
) -> bool:
    """Fill ``data`` of every output, or none of them when they are too big together."""
    if not outputs or sum(output.size for output in outputs) > INLINE_MAX_BYTES:
        return False
    for output, message in zip(outputs, messages, strict=True):
        message.data = await _read_all(storage, folder, output.stored_name)
    return True


async def _read_all(storage: Storage, folder: str, stored_name: str) -> bytes:
    stream: Any = await storage.open(folder, stored_name)
    async with contextlib.aclosing(stream):
        return b"".join([chunk async for chunk in stream])
