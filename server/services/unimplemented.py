"""Services of the contract whose capability has not landed yet.

They answer through the normal error path (``NOT_IMPLEMENTED``, HTTP 501 with the
documented JSON body) instead of grpc's bare UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, NoReturn

from comfyui_gateway.errors import NotImplementedYet
from comfyui_gateway.v1 import jobs_pb2_grpc, outputs_pb2_grpc


def _not_yet(what: str) -> NoReturn:
    raise NotImplementedYet(f"{what} is not implemented yet")


class PendingJobService(jobs_pb2_grpc.JobServiceServicer):
    async def CreateJob(self, request: Any, context: Any) -> Any:
        _not_yet("CreateJob")

    async def GetJob(self, request: Any, context: Any) -> Any:
        _not_yet("GetJob")

    async def ListJobs(self, request: Any, context: Any) -> Any:
        _not_yet("ListJobs")

    async def CancelJob(self, request: Any, context: Any) -> Any:
        _not_yet("CancelJob")

    async def GetJobLogs(self, request: Any, context: Any) -> Any:
        _not_yet("GetJobLogs")

    async def WatchJob(self, request: Any, context: Any) -> AsyncIterator[Any]:
        _not_yet("WatchJob")
        yield None


class PendingOutputService(outputs_pb2_grpc.OutputServiceServicer):
    async def ListOutputs(self, request: Any, context: Any) -> Any:
        _not_yet("ListOutputs")

    async def DownloadOutput(self, request: Any, context: Any) -> AsyncIterator[Any]:
        _not_yet("DownloadOutput")
        yield None
