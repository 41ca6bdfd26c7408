"""Outputs as objects in an S3-compatible bucket (AWS, MinIO, ...): key ``<job_id>/<stored_name>``.

The minio SDK is synchronous, so every call runs in a worker thread. ``save`` first
spools the incoming chunks to a temporary file while hashing them — memory stays at
one batch whatever the output's size, and the upload only starts once the source has
delivered everything, so a failing source never leaves an object behind. The SHA-256
travels as user metadata (``x-amz-meta-sha256``) and comes back on ``stat``.

minio, urllib3 and OS errors are translated here: a missing key is OutputNotFound,
anything else StorageError.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error
from minio.helpers import MIN_PART_SIZE

from comfyui_gateway.errors import OutputNotFound
from comfyui_gateway.storage.base import (
    READ_CHUNK_BYTES,
    WRITE_BATCH_BYTES,
    ByteStream,
    StagedObject,
    StorageError,
    StoredObject,
)
from comfyui_gateway.storage.content_types import OCTET_STREAM, validate_content_type
from comfyui_gateway.storage.names import object_key, validate_job_id
from comfyui_gateway.storage.streams import ChunkStream, spool

SHA256_METADATA = "x-amz-meta-sha256"
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
# Everything the SDK and its transport raise when the store misbehaves or is away.
_TRANSPORT_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError)


class S3Storage:
    """The ``Storage`` provider for one bucket.

    Usage::

        storage = S3Storage(minio_client(settings), settings.S3_BUCKET, region="us-east-1")
        await storage.check()   # creates the bucket if it is missing

    ``part_size`` bounds what minio holds in memory during an upload (one part at a time);
    ``spool_dir`` is where uploads wait on disk (the system temp folder by default).
    """

    describe = "s3"

    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        region: str = "us-east-1",
        http: urllib3.PoolManager | None = None,
        spool_dir: Path | None = None,
        part_size: int = MIN_PART_SIZE,
        read_chunk_bytes: int = READ_CHUNK_BYTES,
        write_batch_bytes: int = WRITE_BATCH_BYTES,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._region = region
        self._http = http
        self._spool_dir = spool_dir
        self._part_size = part_size
        self._read_chunk_bytes = read_chunk_bytes
        self._write_batch_bytes = write_batch_bytes

    @property
    def bucket(self) -> str:
        return self._bucket

    def _url(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    async def stage(
        self,
        job_id: str,
        stored_name: str,
        chunks: AsyncIterator[bytes],
        content_type: str,
    ) -> StagedObject:
        """The upload is the durable step and needs every byte first: nothing overlaps."""
        return StagedObject.done(await self.save(job_id, stored_name, chunks, content_type))

    async def save(
        self,
        job_id: str,
        stored_name: str,
        chunks: AsyncIterator[bytes],
        content_type: str,
    ) -> StoredObject:
        validate_content_type(content_type)
        key = object_key(job_id, stored_name)
        try:
            sink, spool_path = await asyncio.to_thread(self._new_spool_file)
        except OSError as exc:
            raise StorageError(f"cannot create an upload spool file: {exc.strerror}") from exc
        try:
            # The source's own errors (even OSErrors of its socket) pass through untouched;
            # the upload only starts once it has delivered everything.
            with sink:
                digest = await spool(chunks, sink, batch_bytes=self._write_batch_bytes)
            try:
                await asyncio.to_thread(
                    self._client.fput_object,
                    self._bucket,
                    key,
                    spool_path,
                    content_type=content_type,
                    metadata={SHA256_METADATA: digest.sha256},
                    part_size=self._part_size,
                    num_parallel_uploads=1,  # one part in memory at a time
                )
            except _TRANSPORT_ERRORS as exc:
                raise StorageError(f"cannot upload {self._url(key)}: {exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool_path)
        return StoredObject(self._url(key), digest.size, digest.sha256, content_type)

    def _new_spool_file(self) -> tuple[IO[bytes], str]:
        fd, path = tempfile.mkstemp(prefix="cgw-upload-", suffix=".part", dir=self._spool_dir)
        return open(fd, "w+b"), path

    async def open(self, job_id: str, stored_name: str) -> ByteStream:
        key = object_key(job_id, stored_name)
        try:
            response = await asyncio.to_thread(self._client.get_object, self._bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise OutputNotFound() from exc
            raise StorageError(f"cannot read {self._url(key)}: {exc}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise StorageError(f"cannot read {self._url(key)}: {exc}") from exc

        def read(size: int) -> bytes:
            try:
                return response.read(size)
            except _TRANSPORT_ERRORS as exc:
                raise StorageError(f"reading {self._url(key)} failed: {exc}") from exc

        def release() -> None:
            # minio's documented pair: close drops an unfinished body, release_conn
            # hands the connection back to the pool.
            response.close()
            response.release_conn()

        return ChunkStream(read, release, chunk_bytes=self._read_chunk_bytes)

    async def stat(self, job_id: str, stored_name: str) -> StoredObject | None:
        key = object_key(job_id, stored_name)
        try:
            info = await asyncio.to_thread(self._client.stat_object, self._bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return None
            raise StorageError(f"cannot stat {self._url(key)}: {exc}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise StorageError(f"cannot stat {self._url(key)}: {exc}") from exc
        sha256 = (info.metadata or {}).get(SHA256_METADATA)
        if not sha256:  # put there by another tool: hash it, bounded memory
            try:
                sha256 = await self._hash(job_id, stored_name)
            except OutputNotFound:
                return None  # deleted in the meantime
        return StoredObject(
            self._url(key), info.size or 0, str(sha256), info.content_type or OCTET_STREAM
        )

    async def _hash(self, job_id: str, stored_name: str) -> str:
        hasher = hashlib.sha256()
        async with contextlib.aclosing(await self.open(job_id, stored_name)) as stream:
            async for chunk in stream:
                hasher.update(chunk)
        return hasher.hexdigest()

    async def delete_job(self, job_id: str) -> None:
        prefix = f"{validate_job_id(job_id)}/"
        try:
            failures = await asyncio.to_thread(self._delete_prefix, prefix)
        except _TRANSPORT_ERRORS as exc:
            raise StorageError(f"cannot delete {self._url(prefix)}: {exc}") from exc
        if failures:
            raise StorageError(
                f"could not delete {len(failures)} objects under {self._url(prefix)}: {failures[0]}"
            )

    async def delete(self, job_id: str, stored_name: str) -> None:
        key = object_key(job_id, stored_name)
        try:
            await asyncio.to_thread(self._client.remove_object, self._bucket, key)
        except _TRANSPORT_ERRORS as exc:
            raise StorageError(f"cannot delete {self._url(key)}: {exc}") from exc

    def _delete_prefix(self, prefix: str) -> list[str]:
        def keys() -> Iterator[DeleteObject]:
            for item in self._client.list_objects(self._bucket, prefix=prefix, recursive=True):
                if item.object_name is not None:
                    yield DeleteObject(item.object_name)

        # remove_objects is lazy: nothing is deleted until its error iterator is drained.
        errors = self._client.remove_objects(self._bucket, keys())
        return [f"{error.name}: {error.code} {error.message}" for error in errors]

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self._ensure_bucket)
        except (*_TRANSPORT_ERRORS, ValueError) as exc:  # ValueError: a bad bucket name
            raise StorageError(f"S3_BUCKET {self._bucket!r} is not usable: {exc}") from exc

    def _ensure_bucket(self) -> None:
        if self._client.bucket_exists(self._bucket):
            return
        try:
            self._client.make_bucket(self._bucket, location=self._region)
        except S3Error as exc:
            # Another replica starting at the same moment may have won the race.
            if exc.code != "BucketAlreadyOwnedByYou":
                raise

    async def close(self) -> None:
        """Drop pooled connections of the pool handed in, if any."""
        if self._http is not None:
            self._http.clear()
