"""JobService: create, read, list, cancel, logs and the progress stream.

Thin: each RPC converts protobuf to plain values, calls the core (submission, store,
cancellation, watch) with the caller's identity, and converts back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import empty_pb2

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.jobs import store
from comfyui_gateway.jobs.cancellation import JobCanceller
from comfyui_gateway.jobs.deletion import JobDeleter
from comfyui_gateway.jobs.state_reads import JobStateReads
from comfyui_gateway.jobs.submission import AcceptedJob, JobRequest, JobSubmitter
from comfyui_gateway.jobs.waiting import Preference, parse_prefer, wait_until_finished
from comfyui_gateway.jobs.watch import watch_job
from comfyui_gateway.outputs.formats import parse_output_format
from comfyui_gateway.v1 import jobs_pb2, jobs_pb2_grpc
from server.call_scope import (
    REQUEST_ID_KEY,
    add_response_header,
    current_caller,
    reply_with_status,
)
from server.convert import datetime_from, dict_from, timestamp_from
from server.deps import ServerDeps
from server.services.job_messages import EventMessages, job_message, output_from_view
from server.services.sync_answer import finished_answer

CANCEL_MESSAGE = "Cancellation requested"
PAGE_BUDGET_BYTES = 2 * 1024 * 1024
"""A listing stops adding jobs once their protobuf size passes this (always at least one):
as JSON (escapes at most triple a string) a page stays well under the transcoder's
16 MiB response buffer in envoy.yaml, whatever the page size asked. ``count`` is the
total, so a client pages on with ``offset`` += the jobs it got."""


def within_budget(messages: list[jobs_pb2.Job]) -> list[jobs_pb2.Job]:
    """The leading messages whose total size fits PAGE_BUDGET_BYTES (at least one)."""
    total = 0
    for index, message in enumerate(messages):
        total += message.ByteSize()
        if total > PAGE_BUDGET_BYTES and index > 0:
            return messages[:index]
    return messages


OUTPUT_ENCODINGS = ("", "base64")
DEADLINE_MARGIN_S = 1.0
"""A gRPC caller's deadline minus this bounds the wait, so it still hears the 202."""


class JobService(jobs_pb2_grpc.JobServiceServicer):
    def __init__(
        self,
        deps: ServerDeps,
        submitter: JobSubmitter,
        canceller: JobCanceller,
        deleter: JobDeleter,
    ) -> None:
        self._deps = deps
        self._submitter = submitter
        self._canceller = canceller
        self._deleter = deleter
        admission = deps.job_admission
        self._etas = admission.etas if admission is not None else None
        self._event_messages = EventMessages()
        self._state_reads = JobStateReads(deps.reads, etas=self._etas)

    async def CreateJob(
        self, request: jobs_pb2.CreateJobRequest, context: Any
    ) -> jobs_pb2.CreateJobResponse:
        job_request = JobRequest(
            workflow_id=request.workflow_id,
            inputs=dict_from(request.inputs) or {},
            params=dict_from(request.params) or {},
            callback_url=request.callback_url,
            metadata=dict_from(request.metadata) or {},
            priority=request.priority,
            transport_request_id=_edge_request_id(context),
            output_format=parse_output_format(
                request.output_format.format, request.output_format.quality
            ),
            previews=request.previews,
        )
        encoding = request.output_encoding.lower()
        if encoding not in OUTPUT_ENCODINGS:
            raise ValidationError(
                "outputEncoding must be base64 or omitted",
                details=[{"field": "outputEncoding", "message": "must be base64 or omitted"}],
            )
        caller = current_caller()
        accepted = await self._submitter.submit(job_request, caller.subject, caller.role.value)
        for name, value in accepted.headers.items():
            add_response_header(name, value)
        preference = _preference(context)
        if preference.wait_s:
            return await self._answer_when_finished(accepted, preference, encoding, context)
        return self._accepted_answer(accepted)

    async def _answer_when_finished(
        self, accepted: AcceptedJob, preference: Preference, encoding: str, context: Any
    ) -> jobs_pb2.CreateJobResponse:
        """``Prefer: wait=N``: the finished job (200) if it ends in time, else the 202."""
        owner = current_caller().owner_filter()
        finished = accepted.status == "cache_hit" or await wait_until_finished(
            self._deps.sessions,
            self._deps.bus,
            accepted.job_id,
            owner,
            _bounded_wait(preference.wait_s, context),
            shutdown=self._deps.shutdown,
        )
        if not finished:
            return self._accepted_answer(accepted)
        return await finished_answer(
            self._deps,
            accepted.job_id,
            owner,
            inline=preference.representation and encoding == "base64",
            status="cache_hit" if accepted.status == "cache_hit" else None,
        )

    def _accepted_answer(self, accepted: AcceptedJob) -> jobs_pb2.CreateJobResponse:
        if accepted.http_status != 200:  # 202 queued; a cache hit is a plain 200
            reply_with_status(accepted.http_status)
        return jobs_pb2.CreateJobResponse(
            job_id=accepted.job_id,
            status=accepted.status,
            eta_seconds=accepted.eta_seconds,
            queue_position=accepted.queue_position,
            poll_url=f"/jobs/{accepted.job_id}",
            outputs=[output_from_view(view) for view in accepted.outputs],
        )

    async def GetJob(self, request: jobs_pb2.GetJobRequest, context: Any) -> jobs_pb2.Job:
        async with self._deps.reads() as session:
            job = await store.get_job(session, request.job_id, current_caller().owner_filter())
            outputs = await store.list_outputs(session, job.id)
            etas = self._etas
            if etas is None:
                return job_message(job, outputs, await store.queue_position(session, job))
            eta = await etas.for_job(session, job)
        return job_message(job, outputs, eta.position, eta.eta_seconds)

    async def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: Any
    ) -> jobs_pb2.ListJobsResponse:
        filters = store.JobFilters(
            owner=current_caller().owner_filter(),
            status=request.status,
            workflow_id=request.workflow_id,
            after=datetime_from(request.after, request.HasField("after")),
            before=datetime_from(request.before, request.HasField("before")),
            limit=request.limit,
            offset=request.offset,
        )
        async with self._deps.reads() as session:
            jobs, count = await store.list_jobs(session, filters)
            outputs = await store.outputs_of(session, [job.id for job in jobs])
            messages = [job_message(job, outputs.get(job.id, [])) for job in jobs]
        return jobs_pb2.ListJobsResponse(jobs=within_budget(messages), count=count)

    async def CancelJob(
        self, request: jobs_pb2.CancelJobRequest, context: Any
    ) -> jobs_pb2.CancelJobResponse:
        status = await self._canceller.cancel(request.job_id, current_caller().owner_filter())
        return jobs_pb2.CancelJobResponse(
            job_id=request.job_id, status=status, message=CANCEL_MESSAGE
        )

    async def DeleteJob(self, request: jobs_pb2.DeleteJobRequest, context: Any) -> empty_pb2.Empty:
        caller = current_caller()
        await self._deleter.delete(request.job_id, caller.owner_filter(), caller.subject)
        reply_with_status(204)
        return empty_pb2.Empty()

    async def GetJobLogs(
        self, request: jobs_pb2.GetJobLogsRequest, context: Any
    ) -> jobs_pb2.JobLogs:
        async with self._deps.reads() as session:
            job = await store.get_job(session, request.job_id, current_caller().owner_filter())
            lines = await store.list_logs(session, job.id)
        return jobs_pb2.JobLogs(
            job_id=job.id,
            logs=[
                jobs_pb2.LogEntry(
                    timestamp=timestamp_from(line.timestamp), level=line.level, message=line.message
                )
                for line in lines
            ],
        )

    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: Any
    ) -> AsyncIterator[jobs_pb2.JobEvent]:
        owner = current_caller().owner_filter()
        async for event in watch_job(
            self._deps.sessions,
            self._deps.bus,
            request.job_id,
            owner,
            shutdown=self._deps.shutdown,
            reads=self._state_reads,
        ):
            yield self._event_messages.message(event)


def _preference(context: Any) -> Preference:
    metadata = context.invocation_metadata() or ()
    return parse_prefer(value for key, value in metadata if key == "prefer")


def _bounded_wait(wait_s: int, context: Any) -> float:
    remaining: float | None = context.time_remaining()
    if remaining is None:
        return float(wait_s)
    return max(0.0, min(float(wait_s), remaining - DEADLINE_MARGIN_S))


def _edge_request_id(context: Any) -> str:
    """The caller's or Envoy's ``x-request-id`` (the same on each of Envoy's retries)."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str):
            return value
    return ""
