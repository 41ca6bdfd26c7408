"""What a media field's value may be, parsed (nothing fetched yet).

- ``data:<type>;base64,<data>`` or bare base64: the bytes themselves;
- ``http://…``/``https://…``: fetched at submission (``fetch.py``);
- ``s3://bucket/key``: read with the gateway's S3 credentials;
- ``upload://<uploadId>``: a file uploaded earlier by the same caller.

Base64 is decoded here, bounded: an encoded string longer than ``max_bytes`` would
decode to is refused before decoding.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote_to_bytes

from comfyui_gateway.media.kinds import REFERENCE_FORMS

UPLOAD_SCHEME = "upload://"
S3_SCHEME = "s3://"
_BASE64 = re.compile(r"[A-Za-z0-9+/=_\-\s]+")
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


class MediaProblem(Exception):
    """Raised when a media value cannot be used; the message is for the client."""


class RefKind(StrEnum):
    INLINE = "inline"
    HTTP = "http"
    S3 = "s3"
    UPLOAD = "upload"


@dataclass(frozen=True)
class Reference:
    """A parsed media value: ``data`` for inline bytes, else ``target`` to fetch."""

    kind: RefKind
    target: str = ""
    data: bytes = b""
    content_type: str = ""
    """The type a data: URL declares (a hint; the bytes decide for images)."""

    @property
    def bucket_and_key(self) -> tuple[str, str]:
        bucket, _, key = self.target.partition("/")
        return bucket, key


def parse_reference(value: str, max_bytes: int) -> Reference:
    """Parse one media value; MediaProblem says what is wrong with it."""
    text = value.strip()
    lowered = text[:16].lower()
    if lowered.startswith(("http://", "https://")):
        return Reference(RefKind.HTTP, target=text)
    if lowered.startswith(S3_SCHEME):
        return _s3(text[len(S3_SCHEME) :])
    if lowered.startswith(UPLOAD_SCHEME):
        upload_id = text[len(UPLOAD_SCHEME) :]
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise MediaProblem("upload:// must be followed by an upload id")
        return Reference(RefKind.UPLOAD, target=upload_id)
    if lowered.startswith("data:"):
        return _data_url(text, max_bytes)
    return Reference(RefKind.INLINE, data=decode_base64(text, max_bytes))


def _s3(rest: str) -> Reference:
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise MediaProblem("must be s3://bucket/key")
    return Reference(RefKind.S3, target=f"{bucket}/{key}")


def _data_url(text: str, max_bytes: int) -> Reference:
    header, comma, payload = text[5:].partition(",")
    if not comma:
        raise MediaProblem("is not a valid data: URL (no comma)")
    parts = [part.strip() for part in header.split(";")]
    content_type = parts[0].lower() if parts and "/" in parts[0] else ""
    if "base64" in (part.lower() for part in parts[1:]):
        return Reference(
            RefKind.INLINE, data=decode_base64(payload, max_bytes), content_type=content_type
        )
    if len(payload) > 3 * max_bytes:
        raise MediaProblem(f"is larger than MAX_INPUT_BYTES ({max_bytes} bytes)")
    data = unquote_to_bytes(payload)
    _check_size(len(data), max_bytes)
    return Reference(RefKind.INLINE, data=data, content_type=content_type)


def decode_base64(text: str, max_bytes: int) -> bytes:
    """Standard or URL-safe base64, whitespace allowed; bounded before decoding."""
    if not text or _BASE64.fullmatch(text) is None:
        raise MediaProblem(f"must be {REFERENCE_FORMS}")
    compact = "".join(text.split())
    _check_size(len(compact) * 3 // 4, max_bytes)
    padded = compact + "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise MediaProblem("is not valid base64") from None


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise MediaProblem(f"is larger than MAX_INPUT_BYTES ({max_bytes} bytes)")
