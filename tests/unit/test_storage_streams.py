"""Batching chunks into threads (``spool``) and reading in threads (``ChunkStream``)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator

import pytest

from comfyui_gateway.storage import StorageError
from comfyui_gateway.storage.streams import ChunkStream, spool


class CountingSink(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)


class FullDisk(io.BytesIO):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        raise OSError(28, "No space left on device")


async def chunks_of(*chunks: bytes | bytearray) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk  # type: ignore[misc]  # bytes-like producers exist in the wild


async def test_spool_hashes_and_counts() -> None:
    sink = CountingSink()
    digest = await spool(chunks_of(b"ab", b"", b"cd"), sink, batch_bytes=1024)
    assert sink.getvalue() == b"abcd"
    assert (digest.size, digest.sha256) == (4, hashlib.sha256(b"abcd").hexdigest())


async def test_a_reused_buffer_is_copied_before_batching() -> None:
    buffer = bytearray(b"one")

    async def reusing() -> AsyncIterator[bytes]:
        yield buffer  # type: ignore[misc]
        buffer[:] = b"two"
        yield buffer  # type: ignore[misc]

    sink = io.BytesIO()
    await spool(reusing(), sink, batch_bytes=1024)
    assert sink.getvalue() == b"onetwo"


async def test_a_failing_sink_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="No space left"):
        await spool(chunks_of(b"x" * 10), FullDisk(), batch_bytes=4)


async def test_chunk_stream_closes_once_at_the_end() -> None:
    source = io.BytesIO(b"x" * 10)
    closed: list[bool] = []
    stream = ChunkStream(source.read, lambda: closed.append(True), chunk_bytes=4)
    assert [chunk async for chunk in stream] == [b"xxxx", b"xxxx", b"xx"]
    await stream.aclose()
    assert closed == [True]


async def test_chunk_stream_closes_on_a_read_error() -> None:
    closed: list[bool] = []

    def broken(_: int) -> bytes:
        raise StorageError("disk went away")

    async with ChunkStream(broken, lambda: closed.append(True)) as stream:
        with pytest.raises(StorageError):
            await anext(stream)
    assert closed == [True]
