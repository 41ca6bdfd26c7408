"""The asyncio client: ``GatewayClient``'s methods as coroutines on a ``grpc.aio`` channel."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import grpc

from comfyui_gateway_client import _requests
from comfyui_gateway_client._auth import Credentials
from comfyui_gateway_client._errors import from_rpc_error
from comfyui_gateway_client._media import (
    MediaSource,
    is_local,
    read_source,
    upload_messages,
)
from comfyui_gateway_client._progress import ProgressBar
from comfyui_gateway_client._retry import RetryPolicy
from comfyui_gateway_client._sync import _finished
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
AsyncProgressCallback = Callable[[jobs_pb2.JobEvent], Awaitable[None] | None]


class AsyncGatewayClient:
    """Asyncio gRPC client for ComfyUI Gateway.

    Usage::

        async with AsyncGatewayClient("localhost:50051", token=jwt) as gw:
            async for event in gw.watch(job_id):
                print(event.progress)
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
            self._channel = grpc.aio.insecure_channel(target)
        else:
            self._channel = grpc.aio.secure_channel(target, channel_credentials)
        self.gateway = gateway_pb2_grpc.GatewayServiceStub(self._channel)
        self.workflows = workflows_pb2_grpc.WorkflowServiceStub(self._channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self._channel)
        self.outputs_service = outputs_pb2_grpc.OutputServiceStub(self._channel)
        self.uploads = uploads_pb2_grpc.UploadServiceStub(self._channel)

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        attempt = 1
        while True:
            try:
                return await method(request, metadata=self._metadata, timeout=self._timeout_s)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                if not self._retry.should_retry(error, attempt):
                    raise error from exc
                await asyncio.sleep(self._retry.delay_s(error, attempt))
                attempt += 1

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncGatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def health(self) -> gateway_pb2.Health:
        return await self._call(self.gateway.GetHealth, gateway_pb2.GetHealthRequest())

    async def capabilities(self) -> gateway_pb2.Capabilities:
        request = gateway_pb2.GetCapabilitiesRequest()
        return await self._call(self.gateway.GetCapabilities, request)

    async def list_workflows(self) -> builtins.list[workflows_pb2.Workflow]:
        request = workflows_pb2.ListWorkflowsRequest()
        return list((await self._call(self.workflows.ListWorkflows, request)).workflows)

    async def submit(
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
        return await self._call(self.jobs.CreateJob, request)

    async def get(self, job_id: str) -> jobs_pb2.Job:
        return await self._call(self.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=job_id))

    async def list(
        self,
        *,
        status: str = "",
        workflow_id: str = "",
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int = 0,
        offset: int = 0,
    ) -> jobs_pb2.ListJobsResponse:
        request = _requests.list_jobs(
            status=status,
            workflow_id=workflow_id,
            after=after,
            before=before,
            limit=limit,
            offset=offset,
        )
        return await self._call(self.jobs.ListJobs, request)

    async def delete(self, job_id: str) -> None:
        """Remove a finished job with its files (409 CONFLICT while queued or running)."""
        await self._call(self.jobs.DeleteJob, jobs_pb2.DeleteJobRequest(job_id=job_id))

    async def cancel(self, job_id: str) -> jobs_pb2.CancelJobResponse:
        return await self._call(self.jobs.CancelJob, jobs_pb2.CancelJobRequest(job_id=job_id))

    async def logs(self, job_id: str) -> builtins.list[jobs_pb2.LogEntry]:
        request = jobs_pb2.GetJobLogsRequest(job_id=job_id)
        return list((await self._call(self.jobs.GetJobLogs, request)).logs)

    async def watch(self, job_id: str) -> AsyncIterator[jobs_pb2.JobEvent]:
        """As ``GatewayClient.watch``: current state, live events, terminal; reconnects."""
        attempt = 1
        while True:
            call = self.jobs.WatchJob(
                jobs_pb2.WatchJobRequest(job_id=job_id), metadata=self._metadata
            )
            try:
                async for event in call:
                    attempt = 1
                    yield event
                    if event.type == "terminal":
                        return
                return
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                if not self._retry.should_retry(error, attempt):
                    raise error from exc
                await asyncio.sleep(self._retry.delay_s(error, attempt))
                attempt += 1
            finally:
                call.cancel()

    async def generate(
        self,
        workflow_id: str,
        inputs: Mapping[str, Any],
        *,
        params: Mapping[str, Any] | None = None,
        priority: str = "",
        on_progress: AsyncProgressCallback | None = None,
        progress_bar: bool = False,
        output_format: str = "",
        quality: int = 0,
        previews: bool = False,
        images: Mapping[str, MediaSource] | None = None,
    ) -> jobs_pb2.Job:
        """Submit, follow the stream, return the finished job (``JobFailed`` otherwise)."""
        callback = on_progress or (ProgressBar() if progress_bar else None)
        values = await self._media_inputs(inputs, images)
        created = await self.submit(
            workflow_id,
            values,
            params=params,
            priority=priority,
            output_format=output_format,
            quality=quality,
            previews=previews,
        )
        if created.status != "cache_hit":
            async for event in self.watch(created.job_id):
                if callback is not None:
                    result = callback(event)
                    if result is not None:
                        await result
        return _finished(await self.get(created.job_id))

    async def upload(
        self, source: bytes | Path | BinaryIO, content_type: str = ""
    ) -> uploads_pb2.Upload:
        """Upload a file for a media input; use the answer's ``ref`` (``upload://…``).

        The bytes are checked by the gateway (an image must decode) and kept until no
        job or upload refers to them. Retried like other calls (the stream is rebuilt).
        """
        data, kind = read_source(source, content_type)
        messages = upload_messages(data, kind)
        attempt = 1
        while True:
            try:
                return await self.uploads.CreateUpload(
                    iter(messages), metadata=self._metadata, timeout=self._timeout_s
                )
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                if not self._retry.should_retry(error, attempt):
                    raise error from exc
                await asyncio.sleep(self._retry.delay_s(error, attempt))
                attempt += 1

    async def _media_inputs(
        self, inputs: Mapping[str, Any], images: Mapping[str, MediaSource] | None
    ) -> dict[str, Any]:
        """``inputs`` plus ``images``, local files uploaded and given as references."""
        values = dict(inputs)
        for name, source in (images or {}).items():
            if is_local(source):
                assert not isinstance(source, str)
                values[name] = (await self.upload(source)).ref
            else:
                values[name] = source
        return values

    async def outputs(self, job_id: str) -> builtins.list[outputs_pb2.OutputFile]:
        request = outputs_pb2.ListOutputsRequest(job_id=job_id)
        return list((await self._call(self.outputs_service.ListOutputs, request)).files)

    async def download(self, job_id: str, filename: str, destination: str | Path | BinaryIO) -> int:
        """Stream one output to a path or binary file; returns the byte count."""
        request = outputs_pb2.DownloadOutputRequest(job_id=job_id, filename=filename)
        if isinstance(destination, str | Path):
            # Opening may block on a slow disk: not on the event loop.
            handle = await asyncio.to_thread(Path(destination).open, "wb")
            try:
                return await self._stream_to(request, handle)
            finally:
                await asyncio.to_thread(handle.close)
        return await self._stream_to(request, destination)

    async def _stream_to(self, request: outputs_pb2.DownloadOutputRequest, handle: BinaryIO) -> int:
        size = 0
        try:
            async for chunk in self.outputs_service.DownloadOutput(
                request, metadata=self._metadata
            ):
                handle.write(chunk.data)
                size += len(chunk.data)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
        return size
