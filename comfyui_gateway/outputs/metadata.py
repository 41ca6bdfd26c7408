"""Removing embedded metadata without touching pixels: a byte-level filter per format.

ComfyUI's SaveImage writes the whole prompt graph (``prompt``) and the editor's graph
(``workflow``, plus any ``extra_pnginfo`` key) into every PNG as ``tEXt`` chunks; its
WEBP and animated savers put the same text into EXIF. Privacy mode (or
``OUTPUT_METADATA=strip``) must not let that leave the gateway, and decoding and
re-encoding to drop it would change the file for no reason. So:

- **PNG**: ``PngTextFilter`` drops ``tEXt``/``zTXt``/``iTXt``/``eXIf`` chunks as the
  bytes stream past (every other chunk, pixels included, is copied verbatim; memory
  stays bounded by one chunk header);
- **WEBP**: the ``EXIF`` and ``XMP `` RIFF chunks are dropped and the VP8X flags and RIFF
  size fixed (animated files too);
- **JPEG**: ``APP1`` (EXIF, XMP) and ``COM`` segments before the scan are dropped.

Bytes that are not the format they claim pass through unchanged.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STRIPPED_PNG_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt", b"eXIf"})
STRIPPED_WEBP_CHUNKS = frozenset({b"EXIF", b"XMP "})
_VP8X_EXIF = 0x08
_VP8X_XMP = 0x04


class PngTextFilter:
    """Incremental PNG filter: ``feed`` chunks in, get the kept bytes out, then ``close``.

    >>> f = PngTextFilter()
    >>> out = f.feed(png_bytes) + f.close()   # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._signature_checked = False
        self._passthrough = False
        self._copy_left = 0
        """Bytes of the current kept chunk still to copy through."""
        self._skip_left = 0
        """Bytes of the current dropped chunk still to skip."""

    def feed(self, data: bytes) -> bytes:
        if self._passthrough:
            return data
        self._pending += data
        out = bytearray()
        if not self._signature_checked:
            if len(self._pending) < len(PNG_SIGNATURE):
                return b""
            self._signature_checked = True
            if bytes(self._pending[:8]) != PNG_SIGNATURE:
                self._passthrough = True
                rest = bytes(self._pending)
                self._pending.clear()
                return rest
            out += self._pending[:8]
            del self._pending[:8]
        while self._pending:
            if self._copy_left:
                take = min(self._copy_left, len(self._pending))
                out += self._pending[:take]
                del self._pending[:take]
                self._copy_left -= take
            elif self._skip_left:
                take = min(self._skip_left, len(self._pending))
                del self._pending[:take]
                self._skip_left -= take
            elif len(self._pending) >= 8:
                (length,) = struct.unpack(">I", self._pending[:4])
                kind = bytes(self._pending[4:8])
                total = 12 + length  # length, type, data, CRC
                if kind in STRIPPED_PNG_CHUNKS:
                    self._skip_left = total
                else:
                    self._copy_left = total
            else:
                break
        return bytes(out)

    def close(self) -> bytes:
        """Whatever is left (a truncated tail is passed on as it came)."""
        rest = bytes(self._pending)
        self._pending.clear()
        return rest


def strip_png(data: bytes) -> bytes:
    """``data`` without its PNG text/EXIF chunks (unchanged if it is not a PNG)."""
    f = PngTextFilter()
    return f.feed(data) + f.close()


def strip_webp(data: bytes) -> bytes:
    """``data`` without its WEBP ``EXIF``/``XMP `` chunks (unchanged if not a WEBP)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return data
    kept = bytearray()
    offset = 12
    while offset + 8 <= len(data):
        kind = data[offset : offset + 4]
        (size,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        end = offset + 8 + size + (size & 1)
        chunk = bytearray(data[offset : min(end, len(data))])
        if kind == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
        if kind not in STRIPPED_WEBP_CHUNKS:
            kept += chunk
        offset = end
    kept += data[offset:] if offset < len(data) else b""
    return b"RIFF" + struct.pack("<I", len(kept) + 4) + b"WEBP" + bytes(kept)


def strip_jpeg(data: bytes) -> bytes:
    """``data`` without ``APP1`` (EXIF/XMP) and ``COM`` segments (unchanged if not a JPEG)."""
    if data[:2] != b"\xff\xd8":
        return data
    out = bytearray(data[:2])
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        end = offset + 2 + length
        if marker not in (0xE1, 0xFE):
            out += data[offset:end]
        offset = end
    out += data[offset:]
    return bytes(out)


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """Dispatch on the bytes' own signature; other formats come back unchanged."""
    if data[:8] == PNG_SIGNATURE:
        return strip_png(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return strip_webp(data)
    if data[:2] == b"\xff\xd8":
        return strip_jpeg(data)
    return data


def is_strippable(content_type: str) -> bool:
    """Types whose metadata ``strip_metadata`` knows how to remove."""
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence in ("image/png", "image/webp", "image/jpeg", "image/jpg")
