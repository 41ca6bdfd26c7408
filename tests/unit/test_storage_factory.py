"""Choosing and building a provider from the settings, without touching the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import comfyui_gateway.storage as storage_package
from comfyui_gateway.config import Settings, StorageProvider
from comfyui_gateway.storage import LocalStorage, StorageError, create_storage
from comfyui_gateway.storage.s3 import S3Storage
from comfyui_gateway.storage.s3_client import AWS_HOST, S3Endpoint, parse_endpoint


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_local_is_the_default(tmp_path: Path) -> None:
    store = create_storage(settings(STORAGE_LOCAL_PATH=tmp_path / "out"))
    assert isinstance(store, LocalStorage)
    assert store.root == tmp_path / "out"
    assert store.describe == "local"


def test_s3_when_configured() -> None:
    store = create_storage(
        settings(
            STORAGE_PROVIDER=StorageProvider.S3,
            S3_ENDPOINT="http://minio:9000",
            S3_BUCKET="outputs",
            S3_ACCESS_KEY="key",
            S3_SECRET_KEY="secret",
        )
    )
    assert isinstance(store, S3Storage)
    assert (store.bucket, store.describe) == ("outputs", "s3")


def test_s3_on_aws_without_keys_builds() -> None:
    store = create_storage(settings(STORAGE_PROVIDER=StorageProvider.S3, S3_BUCKET="outputs"))
    assert isinstance(store, S3Storage)


def test_half_a_key_pair_is_refused() -> None:
    with pytest.raises(StorageError, match="S3_SECRET_KEY"):
        create_storage(
            settings(STORAGE_PROVIDER=StorageProvider.S3, S3_BUCKET="b", S3_ACCESS_KEY="key")
        )


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("", S3Endpoint(AWS_HOST, secure=True)),
        ("  ", S3Endpoint(AWS_HOST, secure=True)),
        ("http://minio:9000", S3Endpoint("minio:9000", secure=False)),
        ("http://minio:9000/", S3Endpoint("minio:9000", secure=False)),
        ("https://s3.example.com", S3Endpoint("s3.example.com", secure=True)),
        ("HTTPS://s3.example.com:8443", S3Endpoint("s3.example.com:8443", secure=True)),
        ("minio:9000", S3Endpoint("minio:9000", secure=True)),
        ("http://[::1]:9000", S3Endpoint("[::1]:9000", secure=False)),
    ],
)
def test_parse_endpoint(endpoint: str, expected: S3Endpoint) -> None:
    assert parse_endpoint(endpoint) == expected


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://minio:9000",
        "http://",
        "http://minio:9000/bucket",
        "http://minio:9000?x=1",
        "http://user:pass@minio:9000",
        "http://minio:99999",
        "http://minio:port",
    ],
)
def test_bad_endpoints_name_the_variable(endpoint: str) -> None:
    with pytest.raises(StorageError, match="S3_ENDPOINT"):
        parse_endpoint(endpoint)


def test_exports_are_importable() -> None:
    for name in storage_package.__all__:
        assert hasattr(storage_package, name), name
