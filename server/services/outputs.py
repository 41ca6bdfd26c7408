"""OutputService: list a job's files and stream one back.

A file is addressed by its stored name (``<uuid>.<ext>``, as in the output's ``url``)
or by the name ComfyUI gave it (what the description's TypeScript client sends). Only
names recorded for the job can match, so nothing outside the job's folder is
reachable. Downloads stream in chunks (``stream google.api.HttpBody``); base64 needs
the whole file and is the one place it is held in memory. ``?convert=`` re-encodes a
still image through temporary files (``outputs.pipeline``), never two copies in memory.
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
from comfyui_gateway.outputs.formats import OutputFormat, parse_convert
from comfyui_gateway.outputs.pipeline import OutputPolicy, Processed, process
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
        async with self._deps.reads() as session:
            files = await store.job_files(session, request.job_id, current_caller().owner_filter())
        return outputs_pb2.ListOutputsResponse(
            files=[
                outputs_pb2.OutputFile(
                    filename=output.filename,
                    size=output.size,
                    sha256=output.sha256,
                    url=output_url(output.job_id, output.stored_name),
                    content_type=output.content_type,
                )
                for output in files.outputs
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
        target = parse_convert(request.convert, request.quality)
        output, folder = await self._find(request.job_id, request.filename)
        processed = await self._read(output, folder, target)
        async with contextlib.aclosing(processed.chunks):  # type: ignore[type-var]
            if fmt == "base64":
                yield await _as_base64(processed, request.filename)
                return
            name = _served_name(output.filename, target if processed.converted else None)
            add_response_header("content-disposition", _disposition(name))
            first = True
            async for chunk in processed.chunks:
                if first:
                    first = False
                    yield httpbody_pb2.HttpBody(content_type=processed.content_type, data=chunk)
                else:
                    yield httpbody_pb2.HttpBody(data=chunk)
        if first:  # an empty file still answers with its content type
            yield httpbody_pb2.HttpBody(content_type=processed.content_type, data=b"")

    async def _read(self, output: JobOutput, folder: str, target: OutputFormat | None) -> Processed:
        """The stored bytes, converted on the fly when ``?convert=`` asks (still images)."""
        stream = await self._storage.open(folder, output.stored_name)
        if target is None:
            return Processed(stream, output.content_type)
        try:
            return await process(stream, output.content_type, OutputPolicy(target=target))
        finally:
            await stream.aclose()

    async def _find(self, job_id: str, name: str) -> tuple[JobOutput, str]:
        """The output and the job folder holding its file (a cache hit's are its source's)."""
        async with self._deps.reads() as session:
            files = await store.job_files(session, job_id, current_caller().owner_filter())
        for output in files.outputs:
            if name == output.stored_name:
                return output, files.folder
        for output in files.outputs:
            if name == output.filename:
                return output, files.folder
        if ECHOABLE_NAME.fullmatch(name):
            raise OutputNotFound(f"Job {job_id} has no output named {name!r}")
        raise OutputNotFound(f"Job {job_id} has no such output")  # never echo junk


async def _as_base64(processed: Processed, requested: str) -> httpbody_pb2.HttpBody:
    data = b"".join([chunk async for chunk in processed.chunks])
    body = {
        "filename": requested,
        "contentType": processed.content_type,
        "size": len(data),
        "data": base64.b64encode(data).decode("ascii"),
    }
    return httpbody_pb2.HttpBody(
        content_type="application/json", data=json.dumps(body).encode("utf-8")
    )


def _served_name(filename: str, target: OutputFormat | None) -> str:
    if target is None:
        return filename
    stem, dot, _ = filename.rpartition(".")
    return f"{stem if dot and stem else filename}.{target.extension}"


def _disposition(filename: str) -> str:
    safe = "".join(ch for ch in filename if ch.isascii() and ch.isprintable() and ch not in '"\\')
    return f'inline; filename="{safe or "output"}"'
