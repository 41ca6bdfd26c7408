"""The blocking client: one gRPC channel, typed errors, retries, the progress stream."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import grpc
from google.api import httpbody_pb2

from comfyui_gateway_client import _requests
from comfyui_gateway_client._auth import Credentials
from comfyui_gateway_client._errors import GatewayError, JobFailed, from_rpc_error
from comfyui_gateway_client._media import (
    MediaSource,
    is_local,
    read_source,
    upload_messages,
)
from comfyui_gateway_client._progress import ProgressBar
from comfyui_gateway_client._retry import RetryPolicy
from comfyui_gateway_client.v1 import (
    gateway_pb2,
    gateway_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    outputs_pb2,
    outputs_pb2_grpc,
    uploads_pb2,
    uploads_pb2_grpc,
    workflows_pb2,
    workflows_pb2_grpc,
)

T = TypeVar("T")
ProgressCallback = Callable[[jobs_pb2.JobEvent], None]


class GatewayClient:
    """Blocking gRPC client for ComfyUI Gateway.

    Usage::

        with GatewayClient("localhost:50051", api_key="k") as gw:
            job = gw.generate("icon_512", {"prompt": "a fox"}, progress_bar=True)

    ``channel_credentials`` switches to TLS; otherwise the channel is plaintext (the
    gateway's gRPC port behind a private network or a TLS-terminating proxy).
    """

    def __init__(
        self,
        target: str = "localhost:50051",
        *,
        api_key: str = "",
        token: str = "",
        channel_credentials: grpc.ChannelCredentials | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._metadata = Credentials(api_key=api_key, token=token).metadata()
        self._timeout_s = timeout_s
        self._retry = retry or RetryPolicy()
        if channel_credentials is None:
            self._channel = grpc.insecure_channel(target)
        else:
            self._channel = grpc.secure_channel(target, channel_credentials)
        self.gateway = gateway_pb2_grpc.GatewayServiceStub(self._channel)
        self.workflows = workflows_pb2_grpc.WorkflowServiceStub(self._channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self._channel)
        self.outputs_service = outputs_pb2_grpc.OutputServiceStub(self._channel)
        self.uploads = uploads_pb2_grpc.UploadServiceStub(self._channel)

    # ---- plumbing -------------------------------------------------------------------

    def _call(self, method: Callable[..., T], request: Any) -> T:
        attempt = 1
        while True:
            try:
                return method(request, metadata=self._metadata, timeout=self._timeout_s)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                if not self._retry.should_retry(error, attempt):
                    raise error from exc
                time.sleep(self._retry.delay_s(error, attempt))
                attempt += 1

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- gateway and workflows --------------------------------------------------------

    def health(self) -> gateway_pb2.Health:
        return self._call(self.gateway.GetHealth, gateway_pb2.GetHealthRequest())

    def capabilities(self) -> gateway_pb2.Capabilities:
        return self._call(self.gateway.GetCapabilities, gateway_pb2.GetCapabilitiesRequest())

    def list_workflows(self) -> builtins.list[workflows_pb2.Workflow]:
        request = workflows_pb2.ListWorkflowsRequest()
        return list(self._call(self.workflows.ListWorkflows, request).workflows)

    # ---- jobs -----------------------------------------------------------------------

    def submit(
        self,
        workflow_id: str,
        inputs: Mapping[str, Any],
        *,
        params: Mapping[str, Any] | None = None,
        priority: str = "",
        callback_url: str = "",
        metadata: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        output_format: str = "",
        quality: int = 0,
        previews: bool = False,
    ) -> jobs_pb2.CreateJobResponse:
        """Queue a job; status "queued", or "cache_hit" with its outputs already there.

        ``output_format`` ("png", "jpg", "webp", with ``quality`` 1-100) converts the
        stored outputs; ``previews`` adds live "preview" events to ``watch``.
        """
        request = _requests.create_job(
            workflow_id,
            inputs,
            params=params,
            priority=priority,
            callback_url=callback_url,
            metadata=metadata,
            request_id=request_id,
            output_format=output_format,
            quality=quality,
            previews=previews,
        )
        return self._call(self.jobs.CreateJob, request)

    def get(self, job_id: str) -> jobs_pb2.Job:
        return self._call(self.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=job_id))

    def list(
        self,
        *,
        status: str = "",
        workflow_id: str = "",
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int = 0,
        offset: int = 0,
    ) -> jobs_pb2.ListJobsResponse:
        """Newest first; ``count`` is how many match, ignoring limit and offset."""
        request = _requests.list_jobs(
            status=status,
            workflow_id=workflow_id,
            after=after,
            before=before,
            limit=limit,
            offset=offset,
        )
        return self._call(self.jobs.ListJobs, request)

    def delete(self, job_id: str) -> None:
        """Remove a finished job with its files (409 CONFLICT while queued or running)."""
        self._call(self.jobs.DeleteJob, jobs_pb2.DeleteJobRequest(job_id=job_id))

    def cancel(self, job_id: str) -> jobs_pb2.CancelJobResponse:
        return self._call(self.jobs.CancelJob, jobs_pb2.CancelJobRequest(job_id=job_id))

    def logs(self, job_id: str) -> builtins.list[jobs_pb2.LogEntry]:
        return list(
            self._call(self.jobs.GetJobLogs, jobs_pb2.GetJobLogsRequest(job_id=job_id)).logs
        )

    def watch(self, job_id: str) -> Iterator[jobs_pb2.JobEvent]:
        """The job's progress events: its current state first, then live ones, up to the
        terminal event. A dropped stream is reopened (retry policy); the gateway then
        starts again from the current state, so nothing is missed."""
        attempt = 1
        while True:
            stream = self.jobs.WatchJob(
                jobs_pb2.WatchJobRequest(job_id=job_id), metadata=self._metadata
            )
            try:
                for event in stream:
                    attempt = 1
                    yield event
                    if event.type == "terminal":
                        return
                return
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                if not self._retry.should_retry(error, attempt):
                    raise error from exc
                time.sleep(self._retry.delay_s(error, attempt))
                attempt += 1
            finally:
                stream.cancel()

    def generate(
        self,
        workflow_id: str,
        inputs: Mapping[str, Any],
        *,
        params: Mapping[str, Any] | None = None,
        priority: str = "",
        on_progress: ProgressCallback | None = None,
        progress_bar: bool = False,
        output_format: str = "",
        quality: int = 0,
        previews: bool = False,
        images: Mapping[str, MediaSource] | None = None,
    ) -> jobs_pb2.Job:
        """Submit, follow the progress stream to the end, return the finished job.

        ``images`` are media inputs by field name: reference strings (base64, data:,
        http(s)://, s3://, upload://) as they are, local bytes/paths/files uploaded first.
        Raises ``JobFailed`` (with ``.job``) when the job fails or is cancelled.
        """
        callback = on_progress or (ProgressBar() if progress_bar else None)
        values = self._media_inputs(inputs, images)
        created = self.submit(
            workflow_id,
            values,
            params=params,
            priority=priority,
            output_format=output_format,
            quality=quality,
            previews=previews,
        )
        if created.status != "cache_hit":
            for event in self.watch(created.job_id):
                if callback is not None:
                    callback(event)
        return _finished(self.get(created.job_id))

    def upload(self, source: bytes | Path | BinaryIO, content_type: str = "") -> uploads_pb2.Upload:
        """Upload a file for a media input; use the answer's ``ref`` (``upload://…``).

        The bytes are checked by the gateway (an image must decode) and kept until no
        job or upload refers to them. Retried like other calls (the stream is rebuilt).
        """
        data, kind = read_source(source, content_type)
        messages = upload_messages(data, kind)
        attempt = 1
        while True:
            try:
                return self.uploads.CreateUpload(
                    iter(messages), metadata=self._metadata, timeout=self._timeout_s
                )
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                if not self._retry.should_retry(error, attempt):
                    raise error from exc
                time.sleep(self._retry.delay_s(error, attempt))
                attempt += 1

    def _media_inputs(
        self, inputs: Mapping[str, Any], images: Mapping[str, MediaSource] | None
    ) -> dict[str, Any]:
        """``inputs`` plus ``images``, local files uploaded and given as references."""
        values = dict(inputs)
        for name, source in (images or {}).items():
            if is_local(source):
                assert not isinstance(source, str)
                values[name] = (self.upload(source)).ref
            else:
                values[name] = source
        return values

    # ---- outputs --------------------------------------------------------------------

    def outputs(self, job_id: str) -> builtins.list[outputs_pb2.OutputFile]:
        request = outputs_pb2.ListOutputsRequest(job_id=job_id)
        return list(self._call(self.outputs_service.ListOutputs, request).files)

    def download(self, job_id: str, filename: str, destination: str | Path | BinaryIO) -> int:
        """Stream one output (stored name or ComfyUI's name) to a path or binary file;
        returns the byte count. Nothing is held in memory beyond one chunk."""
        request = outputs_pb2.DownloadOutputRequest(job_id=job_id, filename=filename)

        def chunks() -> Iterator[httpbody_pb2.HttpBody]:
            try:
                yield from self.outputs_service.DownloadOutput(request, metadata=self._metadata)
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from exc

        if isinstance(destination, str | Path):
            with Path(destination).open("wb") as handle:
                return _write(chunks(), handle)
        return _write(chunks(), destination)


def _write(chunks: Iterator[httpbody_pb2.HttpBody], handle: BinaryIO) -> int:
    size = 0
    for chunk in chunks:
        handle.write(chunk.data)
        size += len(chunk.data)
    return size


def _finished(job: jobs_pb2.Job) -> jobs_pb2.Job:
    if job.status == "succeeded":
        return job
    code = job.error.code if job.HasField("error") else job.status.upper()
    message = job.error.message if job.HasField("error") else f"job {job.status}"
    error = JobFailed(code or "INTERNAL", f"job {job.job_id} {job.status}: {message}")
    error.job = job
    raise error


__all__ = ["GatewayClient", "GatewayError", "ProgressCallback"]
