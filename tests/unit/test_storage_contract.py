"""The ``Storage`` contract, run against every provider.

``StorageContract`` holds the behaviour both providers must share; a provider's test
class inherits it and supplies two things: a ``storage`` fixture (checked, empty) and
``leftovers`` (everything the provider holds for a job, temporary files included).
Here it runs against ``LocalStorage`` in a temp folder; ``tests/integration/
test_storage_s3.py`` runs the same class against S3 (moto's server).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import tracemalloc
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from comfyui_gateway.errors import OutputNotFound, ValidationError
from comfyui_gateway.storage import (
    READ_CHUNK_BYTES,
    LocalStorage,
    Storage,
    StoredObject,
    new_stored_name,
)

MiB = 1024 * 1024
BIG_BYTES = 50 * MiB
JOB = "3f0c7b6e-8a52-4d0e-9a4b-2b8f1c6d9e01"
OTHER_JOB = "job_other-2"

TRAVERSAL_NAMES = [
    "../x",
    "..",
    ".",
    "a/b",
    "a\\b",
    "/etc/passwd",
    "..%2Fx",  # still encoded
    urllib.parse.unquote("..%2Fx"),  # decoded by an HTTP layer: ../x
    urllib.parse.unquote("a%2F..%2F..%2Fb"),
    "x\x00.png",
    "",
    "a" * 256,
    ".hidden",
]
BAD_JOB_IDS = ["../x", "..", ".", "", "a/b", "/abs", "a\\b", "x" * 65, "job%2F", "a b", "j\x00"]


def pattern_chunks(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """Deterministic, non-repeating-per-chunk bytes, generated on demand."""
    for index in range(total // chunk):
        yield index.to_bytes(4, "big") * (chunk // 4)


async def lazily(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def read_all(storage: Storage, job_id: str, name: str) -> tuple[bytes, list[int]]:
    sizes: list[int] = []
    parts: list[bytes] = []
    async with contextlib.aclosing(await storage.open(job_id, name)) as stream:
        async for chunk in stream:
            sizes.append(len(chunk))
            parts.append(chunk)
    return b"".join(parts), sizes


async def failing_after(payload: bytes) -> AsyncIterator[bytes]:
    yield payload
    raise RuntimeError("ComfyUI dropped the connection")


class StorageContract:
    """Behaviour every provider must have; see the module docstring."""

    memory_limit_bytes = 8 * MiB
    """Highest traced memory allowed while moving ``BIG_BYTES`` through the store."""

    async def leftovers(self, storage: Storage, job_id: str) -> list[str]:
        raise NotImplementedError

    async def test_round_trip_is_byte_exact(self, storage: Storage) -> None:
        rng = random.Random(7)
        payload = rng.randbytes(3 * MiB + 12345)
        sizes = [1, 1000, 65536, 300_000, 7, 2 * MiB]
        chunks: list[bytes] = []
        offset = 0
        while offset < len(payload):
            step = sizes[len(chunks) % len(sizes)]
            chunks.append(payload[offset : offset + step])
            offset += step
        name = new_stored_name("ComfyUI_00001_.png", "image/png")

        saved = await storage.save(JOB, name, lazily(iter(chunks)), "image/png")

        assert saved.size == len(payload)
        assert saved.sha256 == hashlib.sha256(payload).hexdigest()
        assert saved.content_type == "image/png"
        assert saved.storage_path.endswith(f"{JOB}/{name}")
        data, read_sizes = await read_all(storage, JOB, name)
        assert data == payload
        assert max(read_sizes) <= READ_CHUNK_BYTES
        assert await storage.stat(JOB, name) == saved

    async def test_staged_record_is_known_first_and_durable_after(self, storage: Storage) -> None:
        payload = b"staged bytes" * 1000
        staged = await storage.stage(JOB, "s.png", lazily(iter([payload])), "image/png")
        assert staged.record.sha256 == hashlib.sha256(payload).hexdigest()
        assert await staged.durable() == staged.record == await storage.stat(JOB, "s.png")
        assert (await read_all(storage, JOB, "s.png"))[0] == payload
        left = await self.leftovers(storage, JOB)
        assert left and not [name for name in left if ".part-" in name]

    async def test_content_type_is_kept_as_given(self, storage: Storage) -> None:
        saved = await storage.save(JOB, "out.png", lazily(iter([b"RIFF"])), "image/webp")
        stat = await storage.stat(JOB, "out.png")
        assert stat is not None
        assert saved.content_type == stat.content_type == "image/webp"

    async def test_empty_output_round_trips(self, storage: Storage) -> None:
        saved = await storage.save(JOB, "empty.txt", lazily(iter([])), "text/plain")
        assert (saved.size, saved.sha256) == (0, hashlib.sha256(b"").hexdigest())
        assert await read_all(storage, JOB, "empty.txt") == (b"", [])

    async def test_saving_again_replaces(self, storage: Storage) -> None:
        await storage.save(JOB, "a.png", lazily(iter([b"first version"])), "image/png")
        saved = await storage.save(JOB, "a.png", lazily(iter([b"second"])), "image/png")
        assert saved.size == len(b"second")
        assert (await read_all(storage, JOB, "a.png"))[0] == b"second"
        assert await storage.stat(JOB, "a.png") == saved

    async def test_missing_output(self, storage: Storage) -> None:
        await storage.save(JOB, "there.png", lazily(iter([b"x"])), "image/png")
        for job_id, name in [(JOB, "missing.png"), (OTHER_JOB, "there.png")]:
            with pytest.raises(OutputNotFound):
                await storage.open(job_id, name)
            assert await storage.stat(job_id, name) is None

    @pytest.mark.parametrize("name", TRAVERSAL_NAMES)
    async def test_names_that_could_escape_are_refused(self, storage: Storage, name: str) -> None:
        with pytest.raises(ValidationError):
            await storage.save(JOB, name, lazily(iter([b"x"])), "image/png")
        with pytest.raises(ValidationError):
            await storage.open(JOB, name)
        with pytest.raises(ValidationError):
            await storage.stat(JOB, name)
        assert await self.leftovers(storage, JOB) == []

    @pytest.mark.parametrize("job_id", BAD_JOB_IDS)
    async def test_job_ids_that_could_escape_are_refused(
        self, storage: Storage, job_id: str
    ) -> None:
        with pytest.raises(ValidationError):
            await storage.save(job_id, "a.png", lazily(iter([b"x"])), "image/png")
        with pytest.raises(ValidationError):
            await storage.open(job_id, "a.png")
        with pytest.raises(ValidationError):
            await storage.stat(job_id, "a.png")
        with pytest.raises(ValidationError):
            await storage.delete_job(job_id)

    @pytest.mark.parametrize("content_type", ["", "png", "image/png\r\nX-Evil: 1"])
    async def test_bad_content_types_are_refused(self, storage: Storage, content_type: str) -> None:
        with pytest.raises(ValidationError):
            await storage.save(JOB, "a.png", lazily(iter([b"x"])), content_type)
        assert await self.leftovers(storage, JOB) == []

    async def test_delete_job_removes_only_that_job(self, storage: Storage) -> None:
        for name in ("a.png", "b.json"):
            await storage.save(JOB, name, lazily(iter([b"data"])), "image/png")
        kept = await storage.save(OTHER_JOB, "a.png", lazily(iter([b"other"])), "image/png")

        await storage.delete_job(JOB)

        assert await storage.stat(JOB, "a.png") is None
        with pytest.raises(OutputNotFound):
            await storage.open(JOB, "b.json")
        assert await self.leftovers(storage, JOB) == []
        assert await storage.stat(OTHER_JOB, "a.png") == kept
        await storage.delete_job(JOB)  # again: nothing left, still fine
        await storage.delete_job("never-existed")

    async def test_delete_removes_one_file_and_keeps_its_neighbours(self, storage: Storage) -> None:
        await storage.save(JOB, "a.png", lazily(iter([b"data"])), "image/png")
        kept = await storage.save(JOB, "b.png", lazily(iter([b"more"])), "image/png")

        await storage.delete(JOB, "a.png")

        assert await storage.stat(JOB, "a.png") is None
        assert await storage.stat(JOB, "b.png") == kept
        await storage.delete(JOB, "a.png")  # again: already gone, still fine
        await storage.delete(JOB, "b.png")
        assert await self.leftovers(storage, JOB) == []
        with pytest.raises(ValidationError):
            await storage.delete(JOB, "../x")

    async def test_failing_source_leaves_nothing_behind(self, storage: Storage) -> None:
        await storage.save(OTHER_JOB, "keep.png", lazily(iter([b"k"])), "image/png")
        with pytest.raises(RuntimeError, match="dropped"):
            await storage.save(JOB, "half.png", failing_after(b"x" * (2 * MiB)), "image/png")
        assert await storage.stat(JOB, "half.png") is None
        with pytest.raises(OutputNotFound):
            await storage.open(JOB, "half.png")
        assert await self.leftovers(storage, JOB) == []

    async def test_source_errors_pass_through_untranslated(self, storage: Storage) -> None:
        """A dropped ComfyUI socket is the source's failure, not the store's."""

        async def reset() -> AsyncIterator[bytes]:
            yield b"x" * 1000
            raise ConnectionResetError("peer reset")

        with pytest.raises(ConnectionResetError):
            await storage.save(JOB, "reset.png", reset(), "image/png")
        assert await self.leftovers(storage, JOB) == []

    async def test_cancelled_save_leaves_nothing_behind(self, storage: Storage) -> None:
        started = asyncio.Event()

        async def stalls() -> AsyncIterator[bytes]:
            yield b"y" * MiB
            started.set()
            await asyncio.Event().wait()  # never set: ComfyUI went quiet
            yield b""

        task = asyncio.create_task(storage.save(JOB, "stuck.png", stalls(), "image/png"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await self.leftovers(storage, JOB) == []

    async def test_memory_stays_bounded_while_saving(self, storage: Storage) -> None:
        expected = hashlib.sha256()
        for chunk in pattern_chunks(BIG_BYTES):
            expected.update(chunk)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            saved = await storage.save(
                JOB, "big.webm", lazily(pattern_chunks(BIG_BYTES)), "video/webm"
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (saved.size, saved.sha256) == (BIG_BYTES, expected.hexdigest())
        assert peak < self.memory_limit_bytes, f"peak {peak / MiB:.1f} MiB"

    async def test_memory_stays_bounded_while_reading(self, storage: Storage) -> None:
        saved = await storage.save(JOB, "big.mp4", lazily(pattern_chunks(BIG_BYTES)), "video/mp4")
        hasher = hashlib.sha256()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            async with contextlib.aclosing(await storage.open(JOB, "big.mp4")) as stream:
                async for chunk in stream:
                    hasher.update(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert hasher.hexdigest() == saved.sha256
        assert peak < 2 * MiB, f"peak {peak / MiB:.1f} MiB"

    async def test_a_reader_may_stop_early(self, storage: Storage) -> None:
        await storage.save(JOB, "a.png", lazily(pattern_chunks(MiB)), "image/png")
        stream = await storage.open(JOB, "a.png")
        first = await anext(stream)
        assert len(first) == READ_CHUNK_BYTES
        await stream.aclose()
        await stream.aclose()
        assert [chunk async for chunk in stream] == []
        await storage.delete_job(JOB)  # nothing holds the output any more

    async def test_concurrent_saves_in_one_job(self, storage: Storage) -> None:
        names = [f"{index}.png" for index in range(8)]
        saved = await asyncio.gather(
            *(storage.save(JOB, n, lazily(iter([n.encode()] * 3)), "image/png") for n in names)
        )
        for name, record in zip(names, saved, strict=True):
            assert await storage.stat(JOB, name) == record
            assert (await read_all(storage, JOB, name))[0] == name.encode() * 3

    async def test_check_is_repeatable(self, storage: Storage) -> None:
        await storage.check()
        await storage.check()
        assert storage.describe in ("local", "s3")

    async def test_stored_object_is_frozen(self, storage: Storage) -> None:
        saved = await storage.save(JOB, "a.png", lazily(iter([b"x"])), "image/png")
        with pytest.raises(AttributeError):
            saved.size = 2  # type: ignore[misc]
        assert isinstance(saved, StoredObject)


def local_files(root: Path, job_id: str) -> list[str]:
    """Every file under the job folder, hidden ones (temporary files, records) included."""
    found = []
    for folder, _, files in os.walk(root / job_id):
        found += [os.path.relpath(Path(folder, name), root) for name in files]
    return sorted(found)


class TestLocalStorageContract(StorageContract):
    memory_limit_bytes = 4 * MiB

    @pytest.fixture
    async def storage(self, tmp_path: Path) -> AsyncIterator[Storage]:
        store = LocalStorage(tmp_path / "outputs")
        await store.check()
        try:
            yield store
        finally:
            await store.close()

    async def leftovers(self, storage: Storage, job_id: str) -> list[str]:
        assert isinstance(storage, LocalStorage)
        return local_files(storage.root, job_id)
