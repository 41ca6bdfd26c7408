"""Input bytes in the output store, content-addressed: ``_inputs/<sha256>.<ext>``.

The folder name starts with ``_``, which no job id (a uuid4) can, so inputs never meet
a job's outputs. Identical bytes are stored once whoever sends them and however
often; the ``input_files`` row says what they are. Writing is idempotent: an object
already there is not written again, and the row is inserted with ON CONFLICT DO
NOTHING, so two submissions of the same picture at once both succeed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.media_input import InputFile
from comfyui_gateway.media.probe import MediaFile
from comfyui_gateway.storage.base import ByteStream, Storage

INPUTS_FOLDER = "_inputs"
"""The store's 'job id' for input files (valid as a folder name, never a uuid)."""


def stored_name(sha256: str, extension: str) -> str:
    return f"{sha256}.{extension}"


class InputStore:
    """Puts checked media into the store and reads it back (the worker's side)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def put_bytes(self, media: MediaFile) -> str:
        """Store the bytes unless they are there already; return the storage path."""
        name = stored_name(media.sha256, media.extension)
        existing = await self._storage.stat(INPUTS_FOLDER, name)
        if existing is not None and existing.sha256 == media.sha256:
            return existing.storage_path
        stored = await self._storage.save(
            INPUTS_FOLDER, name, _chunks(media.data), media.content_type
        )
        return stored.storage_path

    async def open(self, sha256: str, extension: str) -> ByteStream:
        return await self._storage.open(INPUTS_FOLDER, stored_name(sha256, extension))

    async def read(self, sha256: str, extension: str) -> bytes:
        """The whole file (inputs are bounded by MAX_INPUT_BYTES)."""
        parts: list[bytes] = []
        async with contextlib.aclosing(await self.open(sha256, extension)) as stream:
            async for chunk in stream:
                parts.append(chunk)
        return b"".join(parts)


async def record_file(session: AsyncSession, media: MediaFile, storage_path: str) -> None:
    """Insert the ``input_files`` row for ``media`` unless it exists (no commit)."""
    values = {
        "sha256": media.sha256,
        "size": len(media.data),
        "content_type": media.content_type,
        "extension": media.extension,
        "width": media.width,
        "height": media.height,
        "storage_path": storage_path,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(InputFile).values(**values).on_conflict_do_nothing(index_elements=["sha256"])
    await session.execute(statement)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data
