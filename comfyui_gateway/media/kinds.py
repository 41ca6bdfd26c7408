"""The input-schema types for media and their one option.

    "image": {"type": "image", "required": true, "resize": "fit"}

``image`` and ``mask`` are pictures (checked and decoded with Pillow); ``file`` is any
other file a loader node takes (video, audio), checked for size only. ``resize`` says
what happens to an image larger than ``MAX_IMAGE_SIZE`` on a side: ``refuse`` (the
default, a 400) or ``fit`` (scaled down, aspect kept, to fit).

This module imports nothing from ``workflows`` so that ``workflows.schema`` can use it.
"""

from __future__ import annotations

from typing import Any

MEDIA_FIELD_TYPES = ("image", "mask", "file")
PICTURE_TYPES = frozenset({"image", "mask"})
RESIZE_KEY = "resize"
RESIZE_REFUSE = "refuse"
RESIZE_FIT = "fit"
RESIZE_CHOICES = (RESIZE_REFUSE, RESIZE_FIT)
REFERENCE_FORMS = "base64, a data: URL, an http(s):// URL, s3://bucket/key or upload://<uploadId>"


def is_media_type(field_type: object) -> bool:
    return field_type in MEDIA_FIELD_TYPES


def media_type_message() -> str:
    return f"must be a string: {REFERENCE_FORMS}"


def resize_option(field_type: str, raw: dict[str, Any]) -> tuple[str, str | None]:
    """The field's ``resize`` choice and a problem message (None when fine)."""
    value = raw.get(RESIZE_KEY)
    if value is None:
        return (RESIZE_REFUSE if field_type in PICTURE_TYPES else ""), None
    if field_type not in PICTURE_TYPES:
        return "", "only image and mask fields take resize"
    if value not in RESIZE_CHOICES:
        return RESIZE_REFUSE, f"must be one of {', '.join(RESIZE_CHOICES)}"
    return str(value), None
