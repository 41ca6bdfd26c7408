"""S3 fixtures: moto's S3 server as a real HTTP endpoint, a fresh bucket per test.

moto runs in server mode as a subprocess (``python -m moto.server``) on a free port,
once per test session; the storage code talks to it over HTTP through the minio SDK
exactly as it would to MinIO or AWS. Each test gets a bucket name of its own, so tests
never see each other's objects. If moto cannot start, the tests fail; they never skip.

Usage in a test module::

    from tests.s3_fixtures import moto_server, s3_bucket, s3_client, s3_storage  # noqa: F401
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from minio import Minio

from comfyui_gateway.config import Settings, StorageProvider
from comfyui_gateway.storage import create_storage
from comfyui_gateway.storage.s3 import S3Storage
from tests.ports import free_port

START_TIMEOUT_S = 30.0
REGION = "us-east-1"


@dataclass(frozen=True)
class MotoServer:
    """A running moto S3 endpoint and the credentials it accepts (any are fine)."""

    endpoint: str
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = REGION

    def settings(self, bucket: str) -> Settings:
        """Gateway settings pointing the S3 provider at this server and ``bucket``."""
        return Settings(
            _env_file=None,
            STORAGE_PROVIDER=StorageProvider.S3,
            S3_ENDPOINT=self.endpoint,
            S3_BUCKET=bucket,
            S3_ACCESS_KEY=self.access_key,
            S3_SECRET_KEY=self.secret_key,
            S3_REGION=self.region,
        )

    def client(self) -> Minio:
        """A plain minio client, to look at the bucket behind the storage's back."""
        host = self.endpoint.removeprefix("http://")
        return Minio(
            host,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region=self.region,
        )


def _wait_until_answers(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer within {START_TIMEOUT_S}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto's S3 server on a free loopback port for the whole session, stopped at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait_until_answers(f"{endpoint}/moto-api/", process, log)
        yield MotoServer(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_bucket() -> str:
    """A bucket name no other test uses; the bucket itself does not exist yet."""
    return f"test-{uuid.uuid4().hex[:24]}"


@pytest.fixture
def s3_client(moto_server: MotoServer) -> Minio:
    """A plain minio client on the moto server, for assertions."""
    return moto_server.client()


@pytest.fixture
async def s3_storage(moto_server: MotoServer, s3_bucket: str) -> AsyncIterator[S3Storage]:
    """The S3 provider as ``create_storage`` builds it, checked (so the bucket exists)."""
    storage = create_storage(moto_server.settings(s3_bucket))
    assert isinstance(storage, S3Storage)
    await storage.check()
    try:
        yield storage
    finally:
        await storage.close()
