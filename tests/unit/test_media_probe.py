"""Media checks with Pillow: magic bytes, decodability, pixel cap, size limit or fit."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from comfyui_gateway.media.probe import ImageLimits, looks_like_image, probe_file, probe_image
from comfyui_gateway.media.references import MediaProblem
from tests.media_helpers import bomb_png, noise_png, truncated_png

LIMITS = ImageLimits(max_pixels=1_000_000, max_side=128)


def test_a_good_png_keeps_its_bytes_and_reports_its_size() -> None:
    data = noise_png(40, 30)
    media = probe_image(data, LIMITS)
    assert (media.data, media.content_type, media.extension) == (data, "image/png", "png")
    assert (media.width, media.height) == (40, 30)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (truncated_png(), "truncated"),
        (bomb_png(), "pixels"),
        (bomb_png(2000, 2000), "MAX_INPUT_PIXELS"),
        (b"just text, named .png", "not an image"),
        (noise_png(200, 10), "MAX_IMAGE_SIZE"),
    ],
    ids=["truncated", "bomb", "over_pixel_cap", "text", "too_wide"],
)
def test_bad_images_are_refused_with_a_plain_message(data: bytes, message: str) -> None:
    with pytest.raises(MediaProblem, match=message):
        probe_image(data, LIMITS)


def test_fit_scales_down_keeping_aspect_and_alpha() -> None:
    media = probe_image(noise_png(300, 60, mode="RGBA"), LIMITS, fit=True)
    assert (media.width, media.height, media.content_type) == (128, 26, "image/png")
    with Image.open(io.BytesIO(media.data)) as picture:
        assert picture.size == (128, 26) and picture.mode == "RGBA"


def test_files_are_typed_by_their_source() -> None:
    media = probe_file(b"RIFF....WAVEfmt ", "audio/wav; charset=binary")
    assert (media.content_type, media.extension, media.width) == ("audio/wav", "wav", 0)
    assert probe_file(b"x", "").extension == "bin"
    assert looks_like_image(noise_png(2, 2)) and not looks_like_image(b"GIF? no")
