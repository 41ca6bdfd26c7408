"""Checking media bytes before anything is stored: what they are, and that they decode.

Images (``image``/``mask`` fields, and uploads that are images): Pillow must recognise
the magic bytes as one of ``IMAGE_FORMATS``; the size the header declares must be
within ``MAX_INPUT_PIXELS`` *before* any pixel is decoded (a 1x1 file can claim
100000x100000: a decompression bomb); then every pixel is decoded (a truncated file
fails here). An image over ``MAX_IMAGE_SIZE`` on a side is refused, or scaled down to
fit when the field says ``resize: fit`` (re-encoded as PNG, alpha kept).

Files (``file`` fields) are only bounded in size: ComfyUI's loaders decide the rest.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from comfyui_gateway.media.references import MediaProblem
from comfyui_gateway.storage.content_types import OCTET_STREAM, known_extension_for

if TYPE_CHECKING:
    from PIL import Image

# Pillow is imported where an image is opened: a process that never opens one (a
# worker with no image inputs or conversions) does not load it (~3 MB).

IMAGE_FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tiff"),
}
"""Formats accepted as images (Pillow format name → content type, extension)."""


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int
    """MAX_INPUT_PIXELS: width x height declared by the header."""
    max_side: int
    """MAX_IMAGE_SIZE: largest width or height."""


@dataclass(frozen=True)
class MediaFile:
    """Checked bytes, ready to store: what they are and their content address."""

    data: bytes
    content_type: str
    extension: str
    width: int = 0
    height: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def is_image(self) -> bool:
        return self.width > 0


def looks_like_image(data: bytes) -> bool:
    """Whether Pillow recognises the bytes' magic as an image format we accept."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _opened(data) as picture:
            return picture.format in IMAGE_FORMATS
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return False


def probe_image(data: bytes, limits: ImageLimits, *, fit: bool = False) -> MediaFile:
    """Check an image (see the module docstring); MediaProblem says what is wrong."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _opened(data) as picture:
            return _checked(picture, data, limits, fit)
    except UnidentifiedImageError:
        raise MediaProblem("is not an image (PNG, JPEG, WEBP, GIF, BMP or TIFF)") from None
    except Image.DecompressionBombError:
        raise MediaProblem(
            f"declares more pixels than MAX_INPUT_PIXELS ({limits.max_pixels})"
        ) from None


def probe_file(data: bytes, content_type: str) -> MediaFile:
    """A non-image file: kept as sent, typed by what its source said."""
    kind = content_type.split(";", 1)[0].strip().lower() or OCTET_STREAM
    return MediaFile(data, kind, known_extension_for(kind) or "bin")


def _opened(data: bytes) -> Image.Image:
    from PIL import Image

    # Pillow's own bomb warning becomes an error: our cap below is the lower one anyway.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except Image.DecompressionBombWarning:
            raise Image.DecompressionBombError("too many pixels") from None


def _checked(picture: Image.Image, data: bytes, limits: ImageLimits, fit: bool) -> MediaFile:
    if picture.format not in IMAGE_FORMATS:
        raise MediaProblem("is not an image (PNG, JPEG, WEBP, GIF, BMP or TIFF)")
    content_type, extension = IMAGE_FORMATS[picture.format]
    width, height = picture.size
    if width * height > limits.max_pixels:
        raise MediaProblem(
            f"declares {width}x{height} pixels, more than MAX_INPUT_PIXELS ({limits.max_pixels})"
        )
    try:
        picture.load()
    except (OSError, ValueError, SyntaxError):
        raise MediaProblem("is not a decodable image (truncated or corrupt)") from None
    if max(width, height) <= limits.max_side:
        return MediaFile(data, content_type, extension, width, height)
    if not fit:
        raise MediaProblem(
            f"is {width}x{height}; larger than MAX_IMAGE_SIZE ({limits.max_side}) on a side"
        )
    return _fitted(picture, limits.max_side)


def _fitted(picture: Image.Image, side: int) -> MediaFile:
    from PIL import Image

    scaled = picture.copy()
    scaled.thumbnail((side, side), Image.Resampling.LANCZOS)
    if scaled.mode not in ("RGB", "RGBA", "L", "LA"):
        scaled = scaled.convert("RGBA" if "A" in scaled.getbands() else "RGB")
    out = io.BytesIO()
    scaled.save(out, format="PNG")
    return MediaFile(out.getvalue(), "image/png", "png", scaled.width, scaled.height)
