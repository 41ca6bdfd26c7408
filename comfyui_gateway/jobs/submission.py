"""Accepting a job: validate, render, store durably, then enqueue.

The order is the gateway's promise (DESIGN.md "Durable before acknowledged"): the
job row is committed before its id goes on a queue, and both happen before the
caller hears 202. If enqueueing fails after the commit, the job is still safe: it
stays ``queued`` in the database and the reconciler enqueues it again.

    validate (request shape, callback, inputs) -> fetch + check media inputs -> render
    -> combo values against the backends' catalogue -> cache lookup -> idempotency
    -> queue depth + quota reservation (``comfyui_gateway.admission``; not for cache
    hits) -> store media -> INSERT (job + idempotency key + media references, one
    transaction; a failed insert releases the reservation) -> enqueue -> ETA

Media inputs (``comfyui_gateway.media``) are fetched and checked before anything is
stored, and render as their content-addressed ComfyUI names, so the cache key holds
their sha256 and a 202 never depends on a URL that may disappear.

A cache hit inserts a job that already reads ``succeeded`` with output rows pointing
at the earlier job's files (no GPU work, no copy) and is answered 200 ``cache_hit``.
A repeated ``metadata.requestId`` answers with the original job instead (see
``jobs.idempotency``), so a retried request never creates a second job, cached or not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.admission.quota_gate import Reservation
from comfyui_gateway.admission.setup import JobAdmission
from comfyui_gateway.cache import store as cache_store
from comfyui_gateway.cache.keys import cache_key, canonical_json, checkpoint_names, is_cacheable
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.errors import Conflict, ValidationError
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobs import idempotency
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.queued_rows import insert_queued
from comfyui_gateway.jobs.request_checks import check_job_request
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.jobs.views import output_url
from comfyui_gateway.media.resolve import MediaResolver, ResolvedMedia, job_input_rows
from comfyui_gateway.outputs.formats import OutputFormat
from comfyui_gateway.privacy import Privacy
from comfyui_gateway.scheduling.entry import QueueEntry, entry_for_graph
from comfyui_gateway.storage.names import shown_storage_path
from comfyui_gateway.tracing import child_span, current_traceparent, set_attributes
from comfyui_gateway.webhooks.outbox import add_first_attempt
from comfyui_gateway.webhooks.policy import check_callback_reachable
from comfyui_gateway.workflows.choices import CatalogueSource, check_rendered_choices
from comfyui_gateway.workflows.inputs import InputLimits
from comfyui_gateway.workflows.prepare import PreparedPrompt, prepare_prompt
from comfyui_gateway.workflows.recent import RecentWorkflows
from comfyui_gateway.workflows.schema import effective_fields, parse_input_schema

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
    output_format: OutputFormat | None = None
    """Already validated (``outputs.formats.parse_output_format``)."""
    previews: bool = False
    transport_request_id: str = ""
    """The edge's ``x-request-id`` when the call came through Envoy (retry-stable)."""

    def idempotency_key(self) -> str | None:
        """``metadata.requestId``, else the implicit key (see ``jobs.idempotency``)."""
        explicit = idempotency.request_id_of(self.metadata)
        if explicit is not None:
            return explicit
        fields = {
            "workflowId": self.workflow_id,
            "inputs": self.inputs,
            "params": self.params,
            "callbackUrl": self.callback_url,
            "metadata": self.metadata,
            "priority": self.priority,
            "outputFormat": (
                [self.output_format.format, self.output_format.quality]
                if self.output_format
                else None
            ),
            "previews": self.previews,
        }
        digest = idempotency.request_digest(canonical_json(fields))
        return idempotency.implicit_request_id(self.transport_request_id, digest)

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
class SubmissionOptions:
    """Deployment choices for job creation (``CACHE_ENABLED``, ``WEBHOOK_ALLOWED_DOMAINS``)."""

    cache_enabled: bool = True
    allowed_callback_domains: tuple[str, ...] = ("*",)
    max_metadata_bytes: int = 16 * 1024


@dataclass(frozen=True)
class AcceptedJob:
    """The answer to a create: ``status`` is ``queued`` (202), ``cache_hit`` (200, with
    ``outputs``) or, for a replayed ``requestId``, the original job's current status."""

    job_id: str
    status: str
    eta_seconds: int
    outputs: tuple[dict[str, Any], ...] = ()
    http_status: int = 202
    queue_position: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    """Answer headers (the caller's ``X-Quota-*``)."""


class JobSubmitter:
    """The create-job use case; collaborators come in through the constructor."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queue: JobQueue,
        limits: InputLimits,
        privacy: Privacy | None = None,
        options: SubmissionOptions | None = None,
        catalogue: CatalogueSource | None = None,
        media: MediaResolver | None = None,
        workflows: RecentWorkflows | None = None,
        admission: JobAdmission | None = None,
    ) -> None:
        self._workflows = workflows or RecentWorkflows(ttl_s=0)
        self._admission = admission
        self._catalogue = catalogue
        self._media = media
        self._sessions = sessions
        self._queue = queue
        self._limits = limits
        self._privacy = privacy or Privacy(enabled=False)
        self._options = options or SubmissionOptions()

    async def submit(self, request: JobRequest, owner: str, role: str = "user") -> AcceptedJob:
        check_job_request(
            request.workflow_id,
            request.priority,
            request.metadata,
            self._options.max_metadata_bytes,
        )
        priority = request.parsed_priority()
        if request.callback_url:
            await check_callback_reachable(
                request.callback_url, self._options.allowed_callback_domains
            )
        catalogue = await self._catalogue.current() if self._catalogue is not None else None
        async with self._sessions() as session:
            workflow = await self._workflows.get(session, request.workflow_id)
            with child_span("job.prepare", {"workflow.id": workflow.id}):
                request, prepared, media = await self._prepare(
                    session, workflow, request, owner, catalogue
                )
            key = self._cache_key(workflow.id, workflow.version, prepared, request)
            hit = await cache_store.lookup(session, key) if key else None
            request_id = request.idempotency_key()
            # An implicit (edge) key repeats only when Envoy retried: no query for it;
            # its key row's INSERT conflicts instead and the replay below follows.
            if request_id is not None and _request_id(request.metadata) is not None:
                original = await idempotency.original_job(session, owner, request_id)
                if original is not None:
                    return await self._with_eta(await _replay(session, original), original)
            if hit is None and self._admission is not None:
                with child_span("admission.queue", {"job.priority": priority.value}):
                    await self._admission.check_queue(priority)
            job = Job(
                id=str(uuid.uuid4()),
                workflow_id=workflow.id,
                owner=owner,
                priority=priority,
                inputs=self._privacy.redact_inputs(prepared.inputs.values, workflow.input_schema),
                inputs_digest=_digest(prepared.inputs.values),
                prompt_graph=self._privacy.seal_graph(
                    json.dumps(prepared.graph, separators=(",", ":"))
                ),
                params=self._privacy.redact_inputs(request.params, workflow.input_schema),
                callback_url=request.callback_url or None,
                job_metadata=request.metadata,
                request_id=_request_id(request.metadata),
                seed=prepared.inputs.seed,
                max_attempts=MAX_ATTEMPTS,
                queued_at=utcnow(),
                cache_key=key,
                traceparent=current_traceparent(),
                output_format=_format_record(request),
                previews=request.previews,
            )
            outputs = _serve_from_cache(job, hit) if hit is not None else []
            reservation = await self._reserve(job, owner, role, hit is not None)
            try:
                if self._media is not None and media.inputs:
                    await self._media.store_all(session, media)
                set_attributes({"job.id": job.id, "workflow.id": workflow.id})
                with child_span("job.store", {"job.id": job.id, "db.operation": "insert"}):
                    await self._store(session, job, outputs, owner, request_id, media)
            except Conflict:
                await self._release(reservation)
                if request_id is None:
                    raise
                await session.rollback()  # a concurrent identical request won: answer with it
                original = await idempotency.original_job(session, owner, request_id)
                if original is None:
                    raise
                return await self._with_eta(await _replay(session, original), original)
            except BaseException:
                await self._release(reservation)
                raise
        if hit is not None:
            views = tuple(_output_view(job.id, output) for output in outputs)
            return AcceptedJob(job.id, "cache_hit", 0, outputs=views, http_status=200)
        await self._enqueue(entry_for_graph(job, prepared.graph))
        accepted = AcceptedJob(job_id=job.id, status="queued", eta_seconds=0)
        return await self._with_eta(dataclasses.replace(accepted, headers=reservation.headers), job)

    async def _reserve(self, job: Job, owner: str, role: str, cache_hit: bool) -> Reservation:
        """A quota slot for a job that will run (a cache hit is no active work)."""
        if cache_hit or self._admission is None:
            return Reservation()
        with child_span("admission.quota", {"job.id": job.id}):
            return await self._admission.reserve(owner, role, job.id)

    async def _release(self, reservation: Reservation) -> None:
        if self._admission is not None:
            await self._admission.release(reservation)

    async def _with_eta(self, accepted: AcceptedJob, job: Job) -> AcceptedJob:
        """``accepted`` with the job's queue position and ETA, while it waits or runs."""
        if self._admission is None or accepted.status not in ("queued", "running"):
            return accepted
        try:
            with child_span("job.eta", {"job.id": job.id}):
                eta = await self._admission.eta(job)
        except Exception:  # the job is stored: an estimate must not turn its 202 into a 500
            log.warning("no ETA for an accepted job", exc_info=True, extra={"jobId": job.id})
            return accepted
        return dataclasses.replace(
            accepted, eta_seconds=eta.eta_seconds, queue_position=eta.position
        )

    async def _prepare(
        self,
        session: AsyncSession,
        workflow: Any,
        request: JobRequest,
        owner: str,
        catalogue: Any,
    ) -> tuple[JobRequest, PreparedPrompt, ResolvedMedia]:
        """Validate and render; with media inputs, render again with the stored files'
        ComfyUI names. Combo values are checked against the backends' catalogue."""
        given = {**request.params, **request.inputs}
        prepared = prepare_prompt(
            workflow.workflow_json,
            workflow.input_schema,
            workflow.default_params,
            given,
            self._limits,
        )
        media = await self._resolve_media(session, workflow, given, owner)
        if media.inputs:
            request = _with_media(request, media)
            prepared = prepare_prompt(
                workflow.workflow_json,
                workflow.input_schema,
                workflow.default_params,
                {**request.params, **request.inputs},
                self._limits,
            )
        if catalogue is not None:
            problems = check_rendered_choices(workflow.workflow_json, prepared.graph, catalogue)
            problems.raise_if_any("Invalid inputs")
        return request, prepared, media

    async def _resolve_media(
        self, session: AsyncSession, workflow: Any, given: dict[str, Any], owner: str
    ) -> ResolvedMedia:
        if self._media is None:
            return ResolvedMedia()
        fields = effective_fields(
            parse_input_schema(dict(workflow.input_schema or {})),
            dict(workflow.default_params or {}),
        )
        return await self._media.resolve(session, fields, given, owner)

    def _cache_key(
        self, workflow_id: str, version: int, prepared: PreparedPrompt, request: JobRequest
    ) -> str | None:
        """The request's cache key, or None when caching is off or the seed is random."""
        if not self._options.cache_enabled or not is_cacheable(prepared.inputs):
            return None
        return cache_key(
            workflow_id,
            prepared.inputs.values,
            request.params,
            checkpoint_names(prepared.graph),
            workflow_version=version,
            output_format=_format_record(request),
        )

    async def _store(
        self,
        session: AsyncSession,
        job: Job,
        outputs: list[JobOutput],
        owner: str,
        request_id: str | None,
        media: ResolvedMedia,
    ) -> None:
        with translate_db_errors():
            if job.cached_from_job_id is None and not media.inputs:
                # The usual case: three plain INSERTs, one statement on PostgreSQL.
                key = (
                    idempotency.key_for(owner, request_id, job.id)
                    if request_id is not None
                    else None
                )
                queued = JobLog(job_id=job.id, level="info", message="Job queued")
                await insert_queued(session, job, key, queued)
                await session.commit()
                return
            session.add(job)
            await session.flush()
            session.add_all(job_input_rows(job.id, media))
            if request_id is not None:
                session.add(idempotency.key_for(owner, request_id, job.id))
            if job.cached_from_job_id is not None:
                session.add_all(outputs)
                message = f"Served from cache (outputs of job {job.cached_from_job_id})"
                session.add(JobLog(job_id=job.id, level="info", message=message))
                await session.flush()
                await add_first_attempt(session, job.id)
            else:
                session.add(JobLog(job_id=job.id, level="info", message="Job queued"))
            await session.commit()

    async def _enqueue(self, entry: QueueEntry) -> None:
        job_id = entry.job_id
        try:
            attributes = {"job.id": job_id, "job.priority": entry.priority.value}
            with child_span("queue.enqueue", attributes):
                await self._queue.enqueue(entry)
        except Exception:  # the row is committed: the reconciler will enqueue it again
            log.exception("enqueue failed; the reconciler will retry", extra={"jobId": job_id})


def _format_record(request: JobRequest) -> dict[str, Any] | None:
    return request.output_format.to_record() if request.output_format is not None else None


def _with_media(request: JobRequest, media: ResolvedMedia) -> JobRequest:
    """``request`` with each media value replaced by its stored file's ComfyUI name."""
    names = media.values()
    return dataclasses.replace(
        request,
        inputs={key: names.get(key, value) for key, value in request.inputs.items()},
        params={key: names.get(key, value) for key, value in request.params.items()},
    )


def _request_id(metadata: dict[str, Any]) -> str | None:
    return idempotency.request_id_of(metadata)


def _serve_from_cache(job: Job, hit: cache_store.CacheHit) -> list[JobOutput]:
    """Make ``job`` a finished copy of ``hit.job``: same files, no GPU work, no copies."""
    now = utcnow()
    job.status = JobStatus.SUCCEEDED
    job.progress = 100.0
    job.cached_from_job_id = hit.job.id
    job.started_at = job.completed_at = now
    return [
        JobOutput(
            job_id=job.id,
            filename=output.filename,
            stored_name=output.stored_name,
            storage_path=output.storage_path,
            size=output.size,
            sha256=output.sha256,
            content_type=output.content_type,
            node_id=output.node_id,
            kind=output.kind,
        )
        for output in hit.outputs
    ]


def _output_view(job_id: str, output: JobOutput) -> dict[str, Any]:
    return {
        "filename": output.filename,
        "storagePath": shown_storage_path(output.storage_path),
        "url": output_url(job_id, output.stored_name),
        "size": output.size,
        "sha256": output.sha256,
        "contentType": output.content_type,
    }


async def _replay(session: AsyncSession, job: Job) -> AcceptedJob:
    """The answer for a repeated ``requestId``: the original job, as it is now (with its
    outputs once it has any, so a retry after success needs no second call)."""
    views: tuple[dict[str, Any], ...] = ()
    if job.cached_from_job_id is not None or job.status is JobStatus.SUCCEEDED:
        rows = await session.scalars(
            select(JobOutput).where(JobOutput.job_id == job.id).order_by(JobOutput.id)
        )
        views = tuple(_output_view(job.id, output) for output in rows.all())
    if job.cached_from_job_id is not None:
        return AcceptedJob(job.id, "cache_hit", 0, outputs=views, http_status=200)
    return AcceptedJob(job_id=job.id, status=job.status.value, eta_seconds=0, outputs=views)


def _digest(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(inputs).encode("utf-8")).hexdigest()
