"""Moving bytes between asyncio and blocking I/O without holding whole files.

Both providers do blocking work (file writes, the sync minio client). ``spool`` pulls
chunks from an async iterator and hands them to a worker thread in batches, hashing
on the way; ``ChunkStream`` does the reverse, one ``read`` per chunk in a thread. The
event loop never waits on the disk or the network, and at most one batch is in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Self

from comfyui_gateway.storage.base import READ_CHUNK_BYTES, WRITE_BATCH_BYTES, StorageError


@dataclass(frozen=True, slots=True)
class Digest:
    """Size and SHA-256 of the bytes that went through ``spool``."""

    size: int
    sha256: str


def _write_batch(sink: IO[bytes], hasher: hashlib._Hash, batch: list[bytes]) -> None:
    # hashlib and file writes release the GIL for large buffers, so this runs in a thread.
    for chunk in batch:
        hasher.update(chunk)
        sink.write(chunk)


async def _write(sink: IO[bytes], hasher: hashlib._Hash, batch: list[bytes]) -> None:
    try:
        await asyncio.to_thread(_write_batch, sink, hasher, batch)
    except OSError as exc:
        raise StorageError(f"cannot write the output: {exc.strerror or exc}") from exc


async def spool(
    chunks: AsyncIterator[bytes], sink: IO[bytes], *, batch_bytes: int = WRITE_BATCH_BYTES
) -> Digest:
    """Write every chunk to ``sink`` in batches of about ``batch_bytes``; return the digest.

    A bytes-like chunk that is not ``bytes`` is copied, because a producer may reuse its
    buffer after yielding it and the batch is written later. Whatever ``chunks`` raises
    propagates unchanged (it is the source's failure); a failing write to ``sink`` raises
    StorageError. Cleaning up ``sink`` is the caller's job.
    """
    hasher = hashlib.sha256()
    size = 0
    batch: list[bytes] = []
    pending = 0
    async for chunk in chunks:
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)
        if not chunk:
            continue
        batch.append(chunk)
        pending += len(chunk)
        if pending >= batch_bytes:
            await _write(sink, hasher, batch)
            size += pending
            batch, pending = [], 0
    if batch:
        await _write(sink, hasher, batch)
        size += pending
    return Digest(size=size, sha256=hasher.hexdigest())


class ChunkStream:
    """An async iterator over a blocking reader: each ``read`` runs in a worker thread.

    ``read(n)`` returns up to ``n`` bytes and ``b""`` at the end; ``close`` releases the
    resource and is called exactly once, at the end, on the first error, or by
    ``aclose``. ``first``: a chunk the opener already read (in the thread it opened the
    file in). ``short_read_ends``: a read shorter than asked is the last one, true of
    regular files (not of sockets); a small output is then one thread hop, not three
    (open, the bytes, the empty read). Usage::

        async with ChunkStream(file.read, file.close) as stream:
            async for chunk in stream:
                ...
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        close: Callable[[], None],
        *,
        chunk_bytes: int = READ_CHUNK_BYTES,
        first: bytes | None = None,
        short_read_ends: bool = False,
    ) -> None:
        self._read = read
        self._close = close
        self._chunk_bytes = chunk_bytes
        self._closed = False
        self._pending = first
        self._short_read_ends = short_read_ends
        self._at_end = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        if self._pending is not None:
            chunk, self._pending = self._pending, None
        elif self._at_end:
            chunk = b""
        else:
            try:
                chunk = await asyncio.to_thread(self._read, self._chunk_bytes)
            except BaseException:
                await self.aclose()
                raise
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        self._at_end = self._short_read_ends and len(chunk) < self._chunk_bytes
        return chunk

    async def aclose(self) -> None:
        """Release the file or connection; safe to call more than once."""
        if not self._closed:
            self._closed = True
            # Closing a file or a socket does not block for long: no thread needed, and
            # it still runs when the reading task is being cancelled.
            self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
