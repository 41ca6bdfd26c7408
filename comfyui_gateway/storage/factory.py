"""Choosing the output store from the settings: the one place that knows both providers."""

from __future__ import annotations

from comfyui_gateway.config import Settings, StorageProvider
from comfyui_gateway.storage.base import Storage
from comfyui_gateway.storage.local import LocalStorage


def create_storage(settings: Settings) -> Storage:
    """The store ``STORAGE_PROVIDER`` names, not yet checked: call ``check()`` at start-up.

    Building touches neither the disk nor the network, so it cannot fail on an
    unreachable store; a malformed ``S3_ENDPOINT`` raises StorageError naming it.
    """
    if settings.STORAGE_PROVIDER is StorageProvider.S3:
        # Imported here: with local storage no process loads the minio SDK (~6 MB each).
        from comfyui_gateway.storage.s3 import S3Storage
        from comfyui_gateway.storage.s3_client import http_pool, minio_client, parse_endpoint

        http = http_pool(parse_endpoint(settings.S3_ENDPOINT))
        return S3Storage(
            minio_client(settings, http),
            settings.S3_BUCKET,
            region=settings.S3_REGION,
            http=http,
        )
    return LocalStorage(settings.STORAGE_LOCAL_PATH)
