"""Files for media inputs: the chunks of an upload, and what ``generate(images=...)`` sends.

A media input is either a reference string the gateway fetches itself (base64, a
``data:`` URL, ``http(s)://``, ``s3://bucket/key``, ``upload://<id>``) or local bytes
(``bytes``, a ``Path``, a binary file), which the client uploads first and replaces by
the upload's ``upload://`` reference.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import BinaryIO, TypeAlias

from google.api import httpbody_pb2

CHUNK_BYTES = 256 * 1024
OCTET_STREAM = "application/octet-stream"

MediaSource: TypeAlias = "bytes | str | Path | BinaryIO"


def read_source(source: bytes | Path | BinaryIO, content_type: str = "") -> tuple[bytes, str]:
    """The bytes of a local source and their content type (guessed from a file name)."""
    if isinstance(source, bytes):
        return source, content_type or OCTET_STREAM
    if isinstance(source, Path):
        guessed = mimetypes.guess_type(source.name)[0]
        return source.read_bytes(), content_type or guessed or OCTET_STREAM
    name = getattr(source, "name", "")
    guessed = mimetypes.guess_type(name)[0] if isinstance(name, str) else None
    return source.read(), content_type or guessed or OCTET_STREAM


def upload_messages(data: bytes, content_type: str) -> list[httpbody_pb2.HttpBody]:
    """The client stream of one upload: ``content_type`` on the first chunk."""
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    return [
        httpbody_pb2.HttpBody(content_type=content_type if index == 0 else "", data=chunk)
        for index, chunk in enumerate(chunks)
    ]


def is_local(source: object) -> bool:
    """Whether ``source`` must be uploaded (not a reference string)."""
    return not isinstance(source, str)
