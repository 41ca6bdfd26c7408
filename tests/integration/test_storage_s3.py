"""The S3 provider against a real S3 HTTP endpoint (moto's server, see ``s3_fixtures``).

``TestS3StorageContract`` runs the shared ``StorageContract`` (round trips, names,
failures, bounded memory); the rest covers what only S3 has: the bucket made at
start-up, the metadata on the object, objects written by other tools, a store that
is not there.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from minio import Minio

from comfyui_gateway.errors import OutputNotFound
from comfyui_gateway.storage import Storage, StorageError, create_storage
from comfyui_gateway.storage.s3 import S3Storage
from tests.ports import free_port
from tests.s3_fixtures import (  # noqa: F401  (fixtures)
    MotoServer,
    moto_server,
    s3_bucket,
    s3_client,
    s3_storage,
)
from tests.unit.test_storage_contract import JOB, MiB, StorageContract, lazily

# minio reads one 5 MiB part into memory per upload request (and signs a copy of it);
# that is the bound, whatever the object's size.
S3_MEMORY_LIMIT = 16 * MiB


def names_in(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


class TestS3StorageContract(StorageContract):
    memory_limit_bytes = S3_MEMORY_LIMIT

    @pytest.fixture
    def storage(self, s3_storage: S3Storage) -> Storage:  # noqa: F811
        return s3_storage

    async def leftovers(self, storage: Storage, job_id: str) -> list[str]:
        assert isinstance(storage, S3Storage)
        client = self._client
        return sorted(
            str(item.object_name)
            for item in client.list_objects(storage.bucket, prefix=f"{job_id}/", recursive=True)
        )

    @pytest.fixture(autouse=True)
    def _remember_client(self, s3_client: Minio) -> None:  # noqa: F811
        self._client = s3_client


async def test_check_creates_the_missing_bucket(
    moto_server: MotoServer,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    s3_client: Minio,  # noqa: F811
) -> None:
    storage = create_storage(moto_server.settings(s3_bucket))
    assert storage.describe == "s3"
    assert not s3_client.bucket_exists(s3_bucket)
    await storage.check()
    assert s3_client.bucket_exists(s3_bucket)
    await storage.check()  # already there: fine
    await storage.close()


async def test_object_carries_content_type_and_sha256(
    s3_storage: S3Storage,  # noqa: F811
    s3_client: Minio,  # noqa: F811
) -> None:
    payload = b"\x89PNG fake image bytes"
    saved = await s3_storage.save(JOB, "a.png", lazily(iter([payload])), "image/png")

    assert saved.storage_path == f"s3://{s3_storage.bucket}/{JOB}/a.png"
    info = s3_client.stat_object(s3_storage.bucket, f"{JOB}/a.png")
    assert info.content_type == "image/png"
    assert info.metadata is not None
    assert info.metadata["x-amz-meta-sha256"] == hashlib.sha256(payload).hexdigest()


async def test_object_without_our_metadata_is_hashed_on_stat(
    s3_storage: S3Storage,  # noqa: F811
    s3_client: Minio,  # noqa: F811
) -> None:
    payload = b"written by another tool" * 1000
    s3_client.put_object(
        s3_storage.bucket, f"{JOB}/foreign.json", io.BytesIO(payload), len(payload),
        content_type="application/json",
    )  # fmt: skip
    stat = await s3_storage.stat(JOB, "foreign.json")
    assert stat is not None
    assert (stat.size, stat.sha256) == (len(payload), hashlib.sha256(payload).hexdigest())
    assert stat.content_type == "application/json"


async def test_upload_spool_files_are_removed(
    moto_server: MotoServer,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    storage = S3Storage(moto_server.client(), s3_bucket, spool_dir=tmp_path)
    await storage.check()
    await storage.save(JOB, "ok.png", lazily(iter([b"x" * MiB])), "image/png")

    async def fails() -> AsyncIterator[bytes]:
        yield b"x" * MiB
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        await storage.save(JOB, "bad.png", fails(), "image/png")
    assert names_in(tmp_path) == []


async def test_delete_job_removes_every_object_under_the_prefix(
    s3_storage: S3Storage,  # noqa: F811
    s3_client: Minio,  # noqa: F811
) -> None:
    for index in range(25):
        await s3_storage.save(JOB, f"{index}.png", lazily(iter([b"x"])), "image/png")
    # A job id that is a prefix of another must not take the other with it.
    await s3_storage.save(f"{JOB}-2", "a.png", lazily(iter([b"x"])), "image/png")

    await s3_storage.delete_job(JOB)

    remaining = [o.object_name for o in s3_client.list_objects(s3_storage.bucket, recursive=True)]
    assert remaining == [f"{JOB}-2/a.png"]


async def test_reading_from_a_missing_bucket_is_a_storage_error(
    moto_server: MotoServer,  # noqa: F811
    s3_bucket: str,  # noqa: F811
) -> None:
    storage = create_storage(moto_server.settings(s3_bucket))  # check() never ran
    with pytest.raises(StorageError) as caught:
        await storage.open(JOB, "a.png")
    assert not isinstance(caught.value, OutputNotFound)
    await storage.close()


async def test_unreachable_store_fails_check_with_a_storage_error(s3_bucket: str) -> None:  # noqa: F811
    nobody = MotoServer(f"http://127.0.0.1:{free_port()}")
    storage = create_storage(nobody.settings(s3_bucket))
    started = time.monotonic()
    with pytest.raises(StorageError, match="S3_BUCKET"):
        await storage.check()
    assert time.monotonic() - started < 10
    await storage.close()
