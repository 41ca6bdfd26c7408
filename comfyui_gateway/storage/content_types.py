"""Content types of outputs: guessed from a file name, checked before they reach a header.

The standard library's ``mimetypes`` knows most formats, but its answers depend on the
host (``/etc/mime.types``) and miss a few that ComfyUI produces (``webp``, ``flac``).
So the lookup starts from the library's built-in table only, never the host's files,
and adds the formats we serve explicitly: the same name gives the same type on every
machine, which matters because the type is recorded on the job and served back.
"""

from __future__ import annotations

import functools
import mimetypes
import re

from comfyui_gateway.errors import ValidationError

OCTET_STREAM = "application/octet-stream"

# The formats ComfyUI workflows produce, with the type we want to serve for each.
# Listed explicitly so the answer never depends on the Python version or the host.
KNOWN_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "txt": "text/plain",
    "json": "application/json",
}

# The extension each known type is stored under: the first one listed above wins
# (``image/jpeg`` → ``jpg``), plus the aliases other tools send for the same formats.
_EXTENSIONS: dict[str, str] = {
    **{content_type: ext for ext, content_type in reversed(KNOWN_TYPES.items())},
    "image/jpg": "jpg",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/x-flac": "flac",
}

# RFC 9110 token characters for type and subtype; parameters may follow a ';' but no
# control characters anywhere, so a value can never split or inject a header.
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(?:\s*;[\x20-\x7e]*)?"
)
MAX_CONTENT_TYPE_BYTES = 255


@functools.cache
def _table() -> mimetypes.MimeTypes:
    """The stdlib's built-in table (no host files) plus our explicit additions."""
    table = mimetypes.MimeTypes(filenames=())
    for ext, content_type in KNOWN_TYPES.items():
        table.add_type(content_type, f".{ext}", strict=True)
    return table


def extension_of(filename: str) -> str:
    """The lower-cased extension of ``filename`` without the dot, or ``""``."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot and stem else ""


def content_type_for(filename: str) -> str:
    """The content type to serve for ``filename``; ``application/octet-stream`` if unknown.

    >>> content_type_for("ComfyUI_00001_.PNG")
    'image/png'
    """
    ext = extension_of(filename)
    if not ext:
        return OCTET_STREAM
    if ext in KNOWN_TYPES:
        return KNOWN_TYPES[ext]
    guessed, encoding = _table().guess_type(f"x.{ext}", strict=True)
    # An encoded file (``.gz``) is not what its inner type says; serve it as bytes.
    return guessed if guessed and encoding is None else OCTET_STREAM


def known_extension_for(content_type: str) -> str | None:
    """The extension we store a known output type under (``image/jpeg`` → ``jpg``)."""
    essence = content_type.split(";", 1)[0].strip().lower()
    return _EXTENSIONS.get(essence)


def validate_content_type(content_type: str) -> str:
    """Return ``content_type`` if it is a plain media type, else raise ValidationError.

    The value ends up in HTTP headers and object metadata, so anything that is not a
    well-formed ``type/subtype[; params]`` of printable ASCII is refused here.
    """
    if (
        len(content_type.encode("utf-8")) > MAX_CONTENT_TYPE_BYTES
        or _MEDIA_TYPE.fullmatch(content_type) is None
    ):
        raise ValidationError(
            "content type must be a media type like image/png",
            details=[{"field": "contentType", "message": "not a media type"}],
        )
    return content_type
