"""Live preview frames: ComfyUI's sampler previews, shrunk for the event stream.

ComfyUI sends a JPEG (or PNG) of the latent at every step, about 38 KB at 512 px.
Events travel through Redis pub/sub and into every watcher's SSE or gRPC stream, so
each frame is re-encoded as a JPEG of at most ``MAX_PREVIEW_SIDE`` pixels and
``MAX_PREVIEW_BYTES`` bytes (a smaller size is tried until it fits). Blocking: call
``shrink_preview`` in a worker thread.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

MAX_PREVIEW_SIDE = 256
MAX_PREVIEW_BYTES = 24 * 1024
PREVIEW_QUALITY = 70
_MIN_SIDE = 32


@dataclass(frozen=True, slots=True)
class PreviewFrame:
    content_type: str
    data: bytes
    width: int
    height: int


def shrink_preview(raw: bytes) -> PreviewFrame | None:
    """A small JPEG of ``raw``, or None when ``raw`` is not a decodable image."""
    from PIL import Image, UnidentifiedImageError  # loaded by the first preview

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(raw)) as image:
                image.load()
                frame = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    side = MAX_PREVIEW_SIDE
    while True:
        small = frame.copy()
        small.thumbnail((side, side))
        out = io.BytesIO()
        small.save(out, "JPEG", quality=PREVIEW_QUALITY)
        data = out.getvalue()
        if len(data) <= MAX_PREVIEW_BYTES or side <= _MIN_SIDE:
            return PreviewFrame("image/jpeg", data, small.width, small.height)
        side //= 2
