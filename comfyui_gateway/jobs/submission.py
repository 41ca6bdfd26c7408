"""Accepting a job: validate, render, store durably, then enqueue.

The order is the gateway's promise (DESIGN.md "Durable before acknowledged"): the
job row is committed before its id goes on a queue, and both happen before the
caller hears 202. If enqueueing fails after the commit, the job is still safe: it
stays ``queued`` in the database and the reconciler enqueues it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.cache.keys import canonical_json
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.queries.workflows import WorkflowRepository
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.errors import ValidationError
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.workflows.inputs import InputLimits
from comfyui_gateway.workflows.prepare import prepare_prompt

log = logging.getLogger("comfyui_gateway.jobs")

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class JobRequest:
    """What a caller asked for, as plain values (the server converts from protobuf)."""

    workflow_id: str
    inputs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    callback_url: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    priority: str = ""

    def parsed_priority(self) -> JobPriority:
        if not self.priority:
            return JobPriority.NORMAL
        try:
            return JobPriority(self.priority.lower())
        except ValueError:
            raise ValidationError(
                "priority must be one of high, normal, low",
                details=[{"field": "priority", "message": "must be one of high, normal, low"}],
            ) from None


@dataclass(frozen=True)
class AcceptedJob:
    job_id: str
    status: str
    eta_seconds: int


class JobSubmitter:
    """The create-job use case; collaborators come in through the constructor."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queue: JobQueue,
        limits: InputLimits,
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._limits = limits

    async def submit(self, request: JobRequest, owner: str) -> AcceptedJob:
        priority = request.parsed_priority()
        async with self._sessions() as session:
            workflow = await WorkflowRepository(session).get(request.workflow_id)
            prepared = prepare_prompt(
                workflow.workflow_json,
                workflow.input_schema,
                workflow.default_params,
                {**request.params, **request.inputs},
                self._limits,
            )
            job = Job(
                id=str(uuid.uuid4()),
                workflow_id=workflow.id,
                owner=owner,
                priority=priority,
                inputs=prepared.inputs.values,
                inputs_digest=_digest(prepared.inputs.values),
                prompt_graph=json.dumps(prepared.graph, separators=(",", ":")),
                params=request.params,
                callback_url=request.callback_url or None,
                job_metadata=request.metadata,
                request_id=_request_id(request.metadata),
                seed=prepared.inputs.seed,
                max_attempts=MAX_ATTEMPTS,
                queued_at=utcnow(),
            )
            await self._store(session, job)
        await self._enqueue(job.id, priority)
        return AcceptedJob(job_id=job.id, status="queued", eta_seconds=0)

    async def _store(self, session: AsyncSession, job: Job) -> None:
        with translate_db_errors():
            session.add(job)
            await session.flush()
            session.add(JobLog(job_id=job.id, level="info", message="Job queued"))
            await session.commit()

    async def _enqueue(self, job_id: str, priority: JobPriority) -> None:
        try:
            await self._queue.enqueue(job_id, priority)
        except Exception:  # the row is committed: the reconciler will enqueue it again
            log.exception("enqueue failed; the reconciler will retry", extra={"jobId": job_id})


def _request_id(metadata: dict[str, Any]) -> str | None:
    value = metadata.get("requestId")
    return str(value) if value not in (None, "") else None


def _digest(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(inputs).encode("utf-8")).hexdigest()
