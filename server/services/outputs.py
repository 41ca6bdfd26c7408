"""OutputService: list a job's files and stream one back.

A file is addressed by its stored name (``<uuid>.<ext>``, as in the output's ``url``)
or by the name ComfyUI gave it (what the description's TypeScript client sends). Only
names recorded for the job can match, so nothing outside the job's folder is
reachable. Downloads stream in chunks (``stream google.api.HttpBody``); base64 needs
the whole file and is the one place it is held in memory.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from google.api import httpbody_pb2

from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.errors import OutputNotFound, ValidationError
from comfyui_gateway.jobs import store
from comfyui_gateway.jobs.views import output_url
from comfyui_gateway.storage import Storage
from comfyui_gateway.v1 import outputs_pb2, outputs_pb2_grpc
from server.call_scope import add_response_header, current_caller
from server.deps import ServerDeps

ECHOABLE_NAME = re.compile(r"[A-Za-z0-9._ -]{1,128}")
"""A requested file name is repeated in the 404 only when it could be a file name."""

FORMATS = ("", "raw", "base64")


class OutputService(outputs_pb2_grpc.OutputServiceServicer):
    def __init__(self, deps: ServerDeps, storage: Storage) -> None:
        self._deps = deps
        self._storage = storage

    async def ListOutputs(
        self, request: outputs_pb2.ListOutputsRequest, context: Any
    ) -> outputs_pb2.ListOutputsResponse:
        async with self._deps.sessions() as session:
            job = await store.get_job(session, request.job_id, current_caller().owner_filter())
            outputs = await store.list_outputs(session, job.id)
        return outputs_pb2.ListOutputsResponse(
            files=[
                outputs_pb2.OutputFile(
                    filename=output.filename,
                    size=output.size,
                    sha256=output.sha256,
                    url=output_url(output.job_id, output.stored_name),
                    content_type=output.content_type,
                )
                for output in outputs
            ]
        )

    async def DownloadOutput(
        self, request: outputs_pb2.DownloadOutputRequest, context: Any
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        fmt = request.format.lower()
        if fmt not in FORMATS:
            raise ValidationError(
                "format must be base64 or omitted",
                details=[{"field": "format", "message": "must be base64 or omitted"}],
            )
        if not request.filename:
            raise ValidationError(
                "filename is required", details=[{"field": "filename", "message": "is required"}]
            )
        output, folder = await self._find(request.job_id, request.filename)
        if fmt == "base64":
            yield await self._as_base64(output, folder, request.filename)
            return
        add_response_header("content-disposition", _disposition(output.filename))
        stream = await self._storage.open(folder, output.stored_name)
        async with contextlib.aclosing(stream):
            first = True
            async for chunk in stream:
                if first:
                    first = False
                    yield httpbody_pb2.HttpBody(content_type=output.content_type, data=chunk)
                else:
                    yield httpbody_pb2.HttpBody(data=chunk)
        if first:  # an empty file still answers with its content type
            yield httpbody_pb2.HttpBody(content_type=output.content_type, data=b"")

    async def _find(self, job_id: str, name: str) -> tuple[JobOutput, str]:
        """The output and the job folder holding its file (a cache hit's are its source's)."""
        async with self._deps.sessions() as session:
            job = await store.get_job(session, job_id, current_caller().owner_filter())
            outputs = await store.list_outputs(session, job.id)
        folder = job.cached_from_job_id or job.id
        for output in outputs:
            if name == output.stored_name:
                return output, folder
        for output in outputs:
            if name == output.filename:
                return output, folder
        if ECHOABLE_NAME.fullmatch(name):
            raise OutputNotFound(f"Job {job_id} has no output named {name!r}")
        raise OutputNotFound(f"Job {job_id} has no such output")  # never echo junk

    async def _as_base64(
        self, output: JobOutput, folder: str, requested: str
    ) -> httpbody_pb2.HttpBody:
        stream = await self._storage.open(folder, output.stored_name)
        async with contextlib.aclosing(stream):
            data = b"".join([chunk async for chunk in stream])
        body = {
            "filename": requested,
            "contentType": output.content_type,
            "size": len(data),
            "data": base64.b64encode(data).decode("ascii"),
        }
        return httpbody_pb2.HttpBody(
            content_type="application/json", data=json.dumps(body).encode("utf-8")
        )


def _disposition(filename: str) -> str:
    safe = "".join(ch for ch in filename if ch.isascii() and ch.isprintable() and ch not in '"\\')
    return f'inline; filename="{safe or "output"}"'
