"""``POST /uploads``: check a file once, store it content-addressed, give its owner an id.

The body is the file itself (its Content-Type says what it is) or a multipart form
whose ``file`` field holds it. Bytes Pillow recognises as an image are checked like an
image input (decodable, within ``MAX_INPUT_PIXELS``; the ``MAX_IMAGE_SIZE`` rule is the
job field's business, since ``resize: fit`` may scale it there); a body that claims an
image type but is none is refused; anything else is kept as a file.

Upload ids are ``up_`` + 32 hex digits (a uuid4): unguessable, and only their owner
can use them (``upload://<id>``); someone else's id reads as not found.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.media_input import Upload
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.errors import ValidationError
from comfyui_gateway.media.multipart import file_part, is_multipart
from comfyui_gateway.media.probe import (
    ImageLimits,
    MediaFile,
    looks_like_image,
    probe_file,
    probe_image,
)
from comfyui_gateway.media.references import UPLOAD_SCHEME, MediaProblem
from comfyui_gateway.media.store import InputStore, record_file
from comfyui_gateway.storage.content_types import content_type_for

UPLOAD_ID_PREFIX = "up_"


@dataclass(frozen=True)
class UploadRecord:
    upload_id: str
    sha256: str
    size: int
    content_type: str
    width: int
    height: int

    @property
    def ref(self) -> str:
        return f"{UPLOAD_SCHEME}{self.upload_id}"


def new_upload_id() -> str:
    return f"{UPLOAD_ID_PREFIX}{uuid.uuid4().hex}"


class UploadCreator:
    """The create-upload use case.

    Usage::

        record = await UploadCreator(sessions, InputStore(storage), limits).create(
            body, "image/png", owner)
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: InputStore,
        limits: ImageLimits,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._limits = limits

    async def create(self, body: bytes, content_type: str, owner: str) -> UploadRecord:
        media = await self._checked(body, content_type)
        path = await self._store.put_bytes(media)
        upload = Upload(id=new_upload_id(), owner=owner, sha256=media.sha256)
        async with self._sessions() as session:
            with translate_db_errors():
                await record_file(session, media, path)
                session.add(upload)
                await session.commit()
        return UploadRecord(
            upload.id,
            media.sha256,
            len(media.data),
            media.content_type,
            media.width,
            media.height,
        )

    async def _checked(self, body: bytes, content_type: str) -> MediaFile:
        try:
            data, declared = body, content_type
            if is_multipart(content_type):
                part = file_part(body, content_type)
                data = part.data
                declared = part.content_type or (
                    content_type_for(part.filename) if part.filename else ""
                )
            if not data:
                raise MediaProblem("is empty")
            if looks_like_image(data) or declared.lower().startswith("image/"):
                return await asyncio.to_thread(probe_image, data, self._unbounded_side())
            return probe_file(data, declared)
        except MediaProblem as problem:
            raise ValidationError(
                f"file: {problem}", details=[{"field": "file", "message": str(problem)}]
            ) from None

    def _unbounded_side(self) -> ImageLimits:
        return ImageLimits(max_pixels=self._limits.max_pixels, max_side=2**31)
