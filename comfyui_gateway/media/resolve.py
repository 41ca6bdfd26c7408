"""A job's media fields, from what the caller sent to stored files ComfyUI can read.

At submission, before anything is stored, every media value is fetched (``fetch``)
and checked (``probe``); all problems are reported together, each naming its field
(``inputs.image``). Only when every field is good are the bytes stored (``store``).
The field's value then becomes the name ComfyUI will read the file by,
``gateway/<sha256>.<ext>`` (folder ``gateway`` under ComfyUI's input/), and that
is what the graph is rendered with, the job records and the cache key hashes: the
content, never the URL. The worker uploads the file under that name (``worker/inputs``).

Schema defaults of media fields are not fetched: they name a file already in
ComfyUI's input folder (``example.png``), as a workflow exported from ComfyUI does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.media_input import InputFile, JobInput, Upload
from comfyui_gateway.errors import UploadNotFound
from comfyui_gateway.media.fetch import MediaFetcher
from comfyui_gateway.media.kinds import PICTURE_TYPES, RESIZE_FIT, is_media_type
from comfyui_gateway.media.probe import ImageLimits, MediaFile, probe_file, probe_image
from comfyui_gateway.media.references import MediaProblem, Reference, RefKind, parse_reference
from comfyui_gateway.media.store import InputStore, record_file
from comfyui_gateway.workflows.problems import Problems
from comfyui_gateway.workflows.schema import FieldSpec

COMFY_SUBFOLDER = "gateway"
"""Folder under ComfyUI's input/ that the gateway's uploads go to."""


def comfy_name(sha256: str, extension: str) -> str:
    """The LoadImage value for a stored input: ``gateway/<sha256>.<ext>``."""
    return f"{COMFY_SUBFOLDER}/{sha256}.{extension}"


@dataclass(frozen=True)
class MediaLimits:
    max_bytes: int
    """MAX_INPUT_BYTES"""
    image: ImageLimits


@dataclass(frozen=True)
class MediaInput:
    """One resolved media field of a job."""

    field: str
    kind: str
    media: MediaFile

    @property
    def comfy_name(self) -> str:
        return comfy_name(self.media.sha256, self.media.extension)


@dataclass
class ResolvedMedia:
    inputs: list[MediaInput] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        """Field name → the ComfyUI file name it renders as."""
        return {item.field: item.comfy_name for item in self.inputs}


class MediaResolver:
    """Fetches, checks and stores a job's media inputs (see the module docstring)."""

    def __init__(self, fetcher: MediaFetcher, store: InputStore, limits: MediaLimits) -> None:
        self._fetcher = fetcher
        self._store = store
        self._limits = limits

    @property
    def store(self) -> InputStore:
        return self._store

    async def resolve(
        self,
        session: AsyncSession,
        fields: Mapping[str, FieldSpec],
        given: Mapping[str, Any],
        owner: str,
    ) -> ResolvedMedia:
        """Check every media value in ``given``; ValidationError naming the bad fields."""
        problems = Problems()
        resolved = ResolvedMedia()
        for name, spec in fields.items():
            value = given.get(name)
            if not is_media_type(spec.type) or value is None:
                continue
            path = f"inputs.{name}"
            if not isinstance(value, str):
                continue  # the schema check reports the type
            try:
                media = await self._checked(session, spec, value, owner, path)
            except MediaProblem as problem:
                problems.add(path, str(problem))
                continue
            resolved.inputs.append(MediaInput(name, spec.type, media))
        problems.raise_if_any("Invalid media input")
        return resolved

    async def store_all(self, session: AsyncSession, resolved: ResolvedMedia) -> None:
        """Write the bytes (idempotent) and their ``input_files`` rows (no commit)."""
        for item in resolved.inputs:
            path = await self._store.put_bytes(item.media)
            await record_file(session, item.media, path)

    async def _checked(
        self, session: AsyncSession, spec: FieldSpec, value: str, owner: str, path: str
    ) -> MediaFile:
        reference = parse_reference(value, self._limits.max_bytes)
        data, content_type = await self._bytes_of(session, reference, owner, path)
        if spec.type in PICTURE_TYPES:
            fit = spec.resize == RESIZE_FIT
            return await _in_thread_probe(data, self._limits.image, fit)
        return probe_file(data, content_type)

    async def _bytes_of(
        self, session: AsyncSession, reference: Reference, owner: str, path: str
    ) -> tuple[bytes, str]:
        if reference.kind is RefKind.INLINE:
            return reference.data, reference.content_type
        if reference.kind is RefKind.HTTP:
            fetched = await self._fetcher.fetch_url(reference.target)
            return fetched.data, fetched.content_type
        if reference.kind is RefKind.S3:
            fetched = await self._fetcher.fetch_s3(*reference.bucket_and_key)
            return fetched.data, fetched.content_type
        file = await uploaded_file(session, reference.target, owner, path)
        return await self._store.read(file.sha256, file.extension), file.content_type


async def uploaded_file(session: AsyncSession, upload_id: str, owner: str, path: str) -> InputFile:
    """The file behind ``upload://<id>`` if ``owner`` made it; UploadNotFound otherwise."""
    row = await session.scalar(
        select(InputFile)
        .join(Upload, Upload.sha256 == InputFile.sha256)
        .where(Upload.id == upload_id, Upload.owner == owner)
    )
    if row is None:
        raise UploadNotFound(
            f"{path}: upload {upload_id} not found",
            details=[{"field": path, "message": "no such upload"}],
        )
    return row


def job_input_rows(job_id: str, resolved: ResolvedMedia) -> list[JobInput]:
    return [
        JobInput(
            job_id=job_id,
            field=item.field,
            kind=item.kind,
            sha256=item.media.sha256,
            comfy_name=item.comfy_name,
        )
        for item in resolved.inputs
    ]


async def _in_thread_probe(data: bytes, limits: ImageLimits, fit: bool) -> MediaFile:
    return await asyncio.to_thread(probe_image, data, limits, fit=fit)
