"""Names inside the output store: what a job folder and a stored file may be called.

Every path or key the store touches is ``<job_id>/<stored_name>``. Both parts come
from outside at some point (a URL path, a database row written by an older version),
so both are checked against an allowlist before they get near a file system or a
bucket, and the checks refuse rather than repair:

- **job ids** are our uuid4 strings. ``[A-Za-z0-9_-]{1,64}`` is accepted too: it
  contains every uuid, leaves room for ids minted by tests and tools, and has no
  character that can name another folder (no dot, no slash, no backslash).
- **stored names** are one path component of ``[A-Za-z0-9._-]``, starting with a
  letter or digit, at most 255 bytes. That refuses ``..``, ``/``, ``\\``, NUL, absolute
  paths and percent-escapes (``%2F`` arriving undecoded, or decoded into ``/``), and
  keeps names starting with a dot free for the store's own temporary and sidecar files.
  The gateway's own names (``new_stored_name``) are ``<uuid4>.<ext>``.
"""

from __future__ import annotations

import re
import uuid

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.storage.content_types import (
    KNOWN_TYPES,
    extension_of,
    known_extension_for,
)

MAX_NAME_BYTES = 255
"""Longest stored name, in UTF-8 bytes: the usual file-system limit for one component."""
DEFAULT_EXTENSION = "png"
"""Extension used when neither the original name nor the content type gives one."""

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STORED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _refuse(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", details=[{"field": field, "message": message}])


def validate_job_id(job_id: str) -> str:
    """Return ``job_id`` unchanged if it can name a job folder, else raise ValidationError."""
    if not isinstance(job_id, str) or _JOB_ID.fullmatch(job_id) is None:
        raise _refuse("jobId", "must be 1-64 characters of letters, digits, '-' or '_'")
    return job_id


def validate_stored_name(stored_name: str) -> str:
    """Return ``stored_name`` unchanged if it is one safe file name, else raise ValidationError.

    The specific messages are for whoever reads the logs; the allowlist at the end is
    what actually decides.
    """
    if not isinstance(stored_name, str) or not stored_name:
        raise _refuse("filename", "must not be empty")
    if "\x00" in stored_name:
        raise _refuse("filename", "must not contain NUL")
    if "/" in stored_name or "\\" in stored_name:
        raise _refuse("filename", "must be a single file name, without '/' or '\\'")
    if stored_name in (".", "..") or stored_name.startswith("."):
        raise _refuse("filename", "must not start with '.'")
    if len(stored_name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise _refuse("filename", f"must be at most {MAX_NAME_BYTES} bytes")
    if _STORED_NAME.fullmatch(stored_name) is None:
        raise _refuse("filename", "may only contain letters, digits, '.', '-' and '_'")
    return stored_name


def object_key(job_id: str, stored_name: str) -> str:
    """The relative location ``<job_id>/<stored_name>`` of one output, both parts checked."""
    return f"{validate_job_id(job_id)}/{validate_stored_name(stored_name)}"


def new_stored_name(original_filename: str, content_type: str) -> str:
    """A fresh ``<uuid4>.<ext>`` name for an output.

    The extension is the original name's when it is a format we know (so a ComfyUI
    ``x.webp`` stays ``.webp``), else the one for ``content_type``, else ``png``. Nothing
    of the original name but a known extension survives, so it can carry no path.

    >>> new_stored_name("ComfyUI_00001_.WEBP", "image/webp").endswith(".webp")
    True
    """
    ext = extension_of(original_filename)
    if ext not in KNOWN_TYPES:
        ext = known_extension_for(content_type) or DEFAULT_EXTENSION
    return f"{uuid.uuid4()}.{ext}"


def shown_storage_path(storage_path: str) -> str:
    """What clients see of a stored file's location: its key, ``<job_id>/<stored_name>``.

    Rows hold the absolute local path or ``s3://bucket/key``; the server's folders and
    the bucket name are nobody's business outside (REST, gRPC, webhooks all show this).
    Both stores lay files out as ``<job_id>/<stored_name>``, old rows included.
    """
    if storage_path.startswith("s3://"):
        return storage_path[len("s3://") :].partition("/")[2]
    parts = storage_path.replace("\\", "/").rstrip("/").split("/")
    return "/".join(parts[-2:])
