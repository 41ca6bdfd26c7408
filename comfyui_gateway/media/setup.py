"""Media pieces built from the settings (one place reads the media settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from comfyui_gateway.config import Settings
from comfyui_gateway.media.fetch import MediaFetcher
from comfyui_gateway.media.probe import ImageLimits
from comfyui_gateway.media.resolve import MediaLimits, MediaResolver
from comfyui_gateway.media.store import InputStore
from comfyui_gateway.storage.base import Storage

if TYPE_CHECKING:
    from minio import Minio


def media_limits(settings: Settings) -> MediaLimits:
    return MediaLimits(
        max_bytes=settings.MAX_INPUT_BYTES,
        image=ImageLimits(max_pixels=settings.MAX_INPUT_PIXELS, max_side=settings.MAX_IMAGE_SIZE),
    )


def build_fetcher(settings: Settings) -> MediaFetcher:
    """The process's fetcher: close it at shutdown (it owns an HTTP session)."""
    return MediaFetcher(
        max_bytes=settings.MAX_INPUT_BYTES,
        patterns=settings.INPUT_ALLOWED_DOMAINS,
        timeout_s=settings.INPUT_FETCH_TIMEOUT_MS / 1000,
        s3=lambda: _s3_client(settings),
    )


def build_resolver(settings: Settings, storage: Storage, fetcher: MediaFetcher) -> MediaResolver:
    return MediaResolver(fetcher, InputStore(storage), media_limits(settings))


def _s3_client(settings: Settings) -> Minio:
    """The client for s3:// inputs, made with the first one (the SDK loads then)."""
    from comfyui_gateway.storage.s3_client import minio_client

    return minio_client(settings)
