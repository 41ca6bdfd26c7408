"""Re-encoding one still image with Pillow (blocking: call it in a worker thread).

Only single-frame rasters are converted; animations, video, audio, text and bytes
Pillow cannot read are reported as not convertible so the caller passes them through
with their real type. JPEG has no alpha: transparent pixels are flattened onto white.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import IO, TYPE_CHECKING, Any

from comfyui_gateway.outputs.formats import OutputFormat

if TYPE_CHECKING:
    from PIL import Image

# Pillow is imported by the functions that open an image: only a conversion loads it.

_PROMPT_TAGS = {"prompt": 0x0110, "workflow": 0x010F}
"""EXIF tags (Model, Make) ComfyUI's own WEBP savers put ``prompt:``/``workflow:`` in."""


def still_image_format(source: IO[bytes]) -> str | None:
    """Pillow's name for ``source``'s format if it is one still image, else None."""
    from PIL import Image, UnidentifiedImageError

    source.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as image:
                if getattr(image, "n_frames", 1) != 1:
                    return None
                return str(image.format) if image.format else None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    finally:
        source.seek(0)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB onto white, for formats without alpha."""
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def _kept_metadata(image: Image.Image, target: OutputFormat) -> dict[str, Any]:
    """Encoder arguments carrying the source's metadata over (``keep`` mode)."""
    from PIL import PngImagePlugin

    text = {k: v for k, v in image.info.items() if isinstance(k, str) and isinstance(v, str)}
    if target.format == "png":
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
        return {"pnginfo": info}
    exif = image.getexif()
    for key, tag in _PROMPT_TAGS.items():
        if key in text:
            exif[tag] = f"{key}:{text[key]}"
    kept: dict[str, Any] = {"exif": exif.tobytes()} if len(exif) else {}
    if "xmp" in image.info and isinstance(image.info["xmp"], bytes):
        kept["xmp"] = image.info["xmp"]
    return kept


def convert_image(
    source: IO[bytes], sink: IO[bytes], target: OutputFormat, *, keep_metadata: bool
) -> None:
    """Decode ``source`` (a still image) and write it to ``sink`` in ``target``."""
    from PIL import Image

    source.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(source) as image:
            image.load()
            extra = _kept_metadata(image, target) if keep_metadata else {}
            if target.format == "jpg":
                frame = _flatten(image)
                frame.save(sink, "JPEG", quality=target.quality, **extra)
            elif target.format == "webp":
                frame = image if image.mode in ("RGB", "RGBA") else image.convert("RGBA")
                frame.save(sink, "WEBP", quality=target.quality, **extra)
            else:
                frame = (
                    image
                    if image.mode in ("RGB", "RGBA", "L", "LA", "P")
                    else image.convert("RGBA")
                )
                frame.save(sink, "PNG", **extra)
    with contextlib.suppress(OSError, ValueError):
        sink.flush()
    sink.seek(0)
