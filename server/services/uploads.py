"""UploadService: ``POST /uploads`` (raw or multipart, through Envoy) and its gRPC twin.

Envoy hands the REST body over as a stream of ``HttpBody`` chunks, ``content_type``
on the first; a gRPC client sends the same. The chunks are gathered up to
``MAX_INPUT_BYTES`` (beyond that: 413, nothing stored) and given to the core.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.api import httpbody_pb2

from comfyui_gateway.errors import PayloadTooLarge, ValidationError
from comfyui_gateway.media.uploads import UploadCreator
from comfyui_gateway.v1 import uploads_pb2, uploads_pb2_grpc
from server.call_scope import current_caller, reply_with_status
from server.deps import ServerDeps


class UploadService(uploads_pb2_grpc.UploadServiceServicer):
    def __init__(self, deps: ServerDeps, creator: UploadCreator) -> None:
        self._max_bytes = deps.settings.MAX_INPUT_BYTES
        self._creator = creator

    async def CreateUpload(
        self, request_iterator: AsyncIterator[httpbody_pb2.HttpBody], context: Any
    ) -> uploads_pb2.Upload:
        body, content_type = await self._gather(request_iterator)
        record = await self._creator.create(body, content_type, current_caller().subject)
        reply_with_status(201)
        return uploads_pb2.Upload(
            upload_id=record.upload_id,
            ref=record.ref,
            sha256=record.sha256,
            size=record.size,
            content_type=record.content_type,
            width=record.width,
            height=record.height,
        )

    async def _gather(self, chunks: AsyncIterator[httpbody_pb2.HttpBody]) -> tuple[bytes, str]:
        parts: list[bytes] = []
        size = 0
        content_type = ""
        async for chunk in chunks:
            content_type = content_type or chunk.content_type
            size += len(chunk.data)
            if size > self._max_bytes:
                raise PayloadTooLarge(f"Upload larger than MAX_INPUT_BYTES ({self._max_bytes})")
            parts.append(chunk.data)
        if size == 0:
            raise ValidationError(
                "file: the upload is empty", details=[{"field": "file", "message": "is empty"}]
            )
        return b"".join(parts), content_type
