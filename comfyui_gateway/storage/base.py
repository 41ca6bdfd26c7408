"""What every output store offers: the ``Storage`` protocol and the record it returns.

The worker writes outputs through ``save`` while they stream in from ComfyUI; the
server reads them back through ``open`` while they stream out to the client. Neither
side knows whether the bytes live on a disk or in a bucket: ``create_storage`` picks
the provider from the settings once, at start-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from comfyui_gateway.errors import ErrorCode, GatewayError

READ_CHUNK_BYTES = 64 * 1024
"""Size of the chunks ``open`` yields: small enough to keep memory flat per reader."""
WRITE_BATCH_BYTES = 1024 * 1024
"""Chunks are gathered up to this size before one trip to a worker thread writes them."""


class StorageError(GatewayError):
    """Raised when the output store cannot be used (disk, permissions, S3 unreachable).

    The message is for operators; clients only see the INTERNAL code. Errors of the
    file system, urllib3 and minio are translated into this at the provider boundary.
    """

    code = ErrorCode.INTERNAL
    default_message = "Output storage failed"


class UnsafeStoragePath(StorageError):
    """Raised when a path in the local store resolves outside its job folder (a symlink).

    Names are validated before any path is built, so this means someone changed the
    store's folders underneath the gateway; writes refuse, reads answer 'not found'.
    """

    default_message = "Output path escapes its job folder"


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One stored output, as recorded on the job and listed by ``GET /outputs/{jobId}``."""

    storage_path: str
    """Absolute file path (local) or ``s3://bucket/key``."""
    size: int
    """Length in bytes."""
    sha256: str
    """Lower-case hex SHA-256 of the bytes."""
    content_type: str
    """Media type given at save time, served back as ``Content-Type``."""


@dataclass(frozen=True, slots=True)
class StagedObject:
    """An output whose bytes are written and hashed and are being made durable.

    ``stage`` returns it as soon as the record is known, so the caller can prepare the
    transaction that lists the output meanwhile; ``durable()`` returns once the bytes
    are on disk (or in the bucket) under their final name, or raises StorageError.
    The caller must await it in every case: commit only after it returned.
    """

    record: StoredObject
    finishing: asyncio.Future[None]

    async def durable(self) -> StoredObject:
        await asyncio.shield(self.finishing)
        return self.record

    @classmethod
    def done(cls, record: StoredObject) -> StagedObject:
        """An object that was durable before its record was known (``save``'s result)."""
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        finished.set_result(None)
        return cls(record, finished)


class ByteStream(Protocol):
    """An async iterator of byte chunks that must be closed when the reader stops early.

    Exhausting it closes it; a reader that stops sooner (client gone, error) calls
    ``aclose`` or uses ``contextlib.aclosing`` so the file or connection is released.
    """

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __anext__(self) -> bytes: ...

    async def aclose(self) -> None: ...


class Storage(Protocol):
    """Where job outputs live: ``<job_id>/<stored_name>`` under a folder or in a bucket.

    Usage::

        storage = create_storage(settings)
        await storage.check()
        stored = await storage.save(job_id, new_stored_name("a.png", "image/png"),
                                    chunks, "image/png")
        async with contextlib.aclosing(await storage.open(job_id, name)) as stream:
            async for chunk in stream:
                ...

    Names are checked with ``validate_job_id``/``validate_stored_name`` (ValidationError);
    store failures raise ``StorageError``.
    """

    @property
    def describe(self) -> str:
        """``"local"`` or ``"s3"``: the ``storageProvider`` of ``GET /capabilities``."""
        ...

    async def save(
        self, job_id: str, stored_name: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> StoredObject:
        """Stream ``chunks`` into the store, hashing as they pass; all-or-nothing.

        Memory stays bounded whatever the size. If ``chunks`` raises, nothing is left
        under the final name. Saving an existing name replaces it.
        """
        ...

    async def stage(
        self, job_id: str, stored_name: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> StagedObject:
        """``save`` in two steps: return once the bytes are written and hashed, while
        they are being made durable (``StagedObject.durable``)."""
        ...

    async def open(self, job_id: str, stored_name: str) -> ByteStream:
        """Start reading one output in chunks of about 64 KiB; OutputNotFound if missing."""
        ...

    async def stat(self, job_id: str, stored_name: str) -> StoredObject | None:
        """The record of one output, or None when there is no such output."""
        ...

    async def delete_job(self, job_id: str) -> None:
        """Remove every output of a job; a job with no outputs is fine."""
        ...

    async def delete(self, job_id: str, stored_name: str) -> None:
        """Remove one output (and its job folder once empty); a missing one is fine.

        Files are deleted one by one because a cache hit's rows point at another job's
        files: whoever deletes decides per file, never per folder.
        """
        ...

    async def check(self) -> None:
        """Make sure the store is usable (folder writable, bucket present — created if not).

        Called once at start-up so a misconfigured store fails loudly there, not at the
        first finished job.
        """
        ...

    async def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...
