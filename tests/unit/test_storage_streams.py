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


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


async def test_a_short_read_of_a_regular_file_is_its_last() -> None:
    """A small file is the opener's first chunk and nothing more: no empty read."""
    source = CountingReader(b"x" * 10)
    first = source.read(16)
    closed: list[bool] = []
    stream = ChunkStream(
        source.read, lambda: closed.append(True), chunk_bytes=16, first=first, short_read_ends=True
    )
    assert [chunk async for chunk in stream] == [b"x" * 10]
    assert source.reads == 1 and closed == [True]


async def test_full_chunks_read_on_until_a_short_one() -> None:
    source = CountingReader(b"x" * 10)
    stream = ChunkStream(source.read, lambda: None, chunk_bytes=5, short_read_ends=True)
    assert [chunk async for chunk in stream] == [b"xxxxx", b"xxxxx"]
    assert source.reads == 3  # two full chunks, then the empty read that proves the end


async def test_without_short_read_ends_a_short_chunk_is_not_the_end() -> None:
    """Sockets (S3) may return less than asked mid-stream: only an empty read ends."""
    parts = [b"ab", b"c", b""]
    stream = ChunkStream(lambda _: parts.pop(0), lambda: None, chunk_bytes=8)
    assert [chunk async for chunk in stream] == [b"ab", b"c"]


async def test_an_empty_first_chunk_ends_the_stream() -> None:
    closed: list[bool] = []
    stream = ChunkStream(
        lambda _: b"never", lambda: closed.append(True), first=b"", short_read_ends=True
    )
    assert [chunk async for chunk in stream] == []
    assert closed == [True]
