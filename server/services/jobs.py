"""JobService: create, read, list, cancel, logs and the progress stream.

Thin: each RPC converts protobuf to plain values, calls the core (submission, store,
cancellation, watch) with the caller's identity, and converts back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from comfyui_gateway.jobs import store
from comfyui_gateway.jobs.cancellation import JobCanceller
from comfyui_gateway.jobs.submission import JobRequest, JobSubmitter
from comfyui_gateway.jobs.watch import watch_job
from comfyui_gateway.v1 import jobs_pb2, jobs_pb2_grpc
from server.call_scope import REQUEST_ID_KEY, current_caller, reply_with_status
from server.convert import datetime_from, dict_from, timestamp_from
from server.deps import ServerDeps
from server.services.job_messages import event_message, job_message, output_from_view

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


class JobService(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, deps: ServerDeps, submitter: JobSubmitter, canceller: JobCanceller) -> None:
        self._deps = deps
        self._submitter = submitter
        self._canceller = canceller

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
        )
        accepted = await self._submitter.submit(job_request, current_caller().subject)
        if accepted.http_status != 200:  # 202 queued; a cache hit is a plain 200
            reply_with_status(accepted.http_status)
        return jobs_pb2.CreateJobResponse(
            job_id=accepted.job_id,
            status=accepted.status,
            eta_seconds=accepted.eta_seconds,
            poll_url=f"/jobs/{accepted.job_id}",
            outputs=[output_from_view(view) for view in accepted.outputs],
        )

    async def GetJob(self, request: jobs_pb2.GetJobRequest, context: Any) -> jobs_pb2.Job:
        async with self._deps.sessions() as session:
            job = await store.get_job(session, request.job_id, current_caller().owner_filter())
            outputs = await store.list_outputs(session, job.id)
            position = await store.queue_position(session, job)
        return job_message(job, outputs, position)

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
        async with self._deps.sessions() as session:
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

    async def GetJobLogs(
        self, request: jobs_pb2.GetJobLogsRequest, context: Any
    ) -> jobs_pb2.JobLogs:
        async with self._deps.sessions() as session:
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
        ):
            yield event_message(event)


def _edge_request_id(context: Any) -> str:
    """The caller's or Envoy's ``x-request-id`` (the same on each of Envoy's retries)."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str):
            return value
    return ""
