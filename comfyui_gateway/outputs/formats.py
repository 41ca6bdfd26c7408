"""Target formats for outputs: what ``outputFormat`` and ``?convert=`` may ask for.

Only still images are converted; the format names clients send (``jpg``/``jpeg``,
``webp``, ``png``) map to one Pillow encoder, one content type and one extension, so
a stored file's name, type and bytes always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from comfyui_gateway.errors import ValidationError

DEFAULT_QUALITY = 90
"""Encoder quality when a request gives none (JPEG and lossy WEBP)."""

_ALIASES = {"jpg": "jpg", "jpeg": "jpg", "webp": "webp", "png": "png"}
CONVERT_NAMES = frozenset(_ALIASES)
"""Format names a request may use (``jpeg`` is ``jpg``); the OpenAPI document lists them."""
MAX_QUALITY = 100
CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp", "png": "image/png"}
PILLOW_FORMATS = {"jpg": "JPEG", "webp": "WEBP", "png": "PNG"}


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """One target: ``format`` is ``jpg``, ``webp`` or ``png``; ``quality`` 1-100."""

    format: str
    quality: int = DEFAULT_QUALITY

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return self.format

    @property
    def pillow_format(self) -> str:
        return PILLOW_FORMATS[self.format]

    def to_record(self) -> dict[str, Any]:
        """The JSON stored on the job row."""
        return {"format": self.format, "quality": self.quality}

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> OutputFormat | None:
        if not record:
            return None
        return cls(str(record["format"]), int(record.get("quality") or DEFAULT_QUALITY))


def _refuse(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", details=[{"field": field, "message": message}])


def parse_format(name: str, quality: int, *, field: str, quality_field: str) -> OutputFormat:
    """Validate a requested format; ``quality`` 0 means the default."""
    key = _ALIASES.get(name.strip().lower())
    if key is None:
        raise _refuse(field, "must be one of png, jpg, webp")
    if quality == 0:
        quality = DEFAULT_QUALITY
    if not 1 <= quality <= MAX_QUALITY:
        raise _refuse(quality_field, "must be between 1 and 100")
    return OutputFormat(key, quality)


def parse_output_format(name: str, quality: int) -> OutputFormat | None:
    """A job's ``outputFormat``; None when it asks for none (an empty format)."""
    if not name and quality == 0:
        return None
    if not name:
        raise _refuse("outputFormat.format", "is required when outputFormat is given")
    return parse_format(
        name, quality, field="outputFormat.format", quality_field="outputFormat.quality"
    )


def parse_convert(name: str, quality: int) -> OutputFormat | None:
    """A download's ``?convert=``/``?quality=``; None when no conversion is asked.

    ``quality`` alone asks for nothing (the stored bytes are served as they are): a
    query's parameters cannot depend on each other in the OpenAPI document, and a
    quality the server accepts alone is one it must not refuse.
    """
    if not name:
        if not 0 <= quality <= MAX_QUALITY:
            raise _refuse("quality", f"must be between 1 and {MAX_QUALITY}")
        return None
    return parse_format(name, quality, field="convert", quality_field="quality")
