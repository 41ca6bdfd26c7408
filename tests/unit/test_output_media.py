"""Output media: target formats, metadata filters, the conversion pipeline, previews.

Images are made with Pillow the way ComfyUI saves them (``prompt``/``workflow`` text
chunks in PNG, ``prompt:``/``workflow:`` EXIF in WEBP), then run through the real code.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import pytest
from PIL import Image, PngImagePlugin

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.outputs.formats import OutputFormat, parse_convert, parse_output_format
from comfyui_gateway.outputs.metadata import PngTextFilter, strip_jpeg, strip_png, strip_webp
from comfyui_gateway.outputs.pipeline import OutputPolicy, job_policy, process
from comfyui_gateway.outputs.previews import MAX_PREVIEW_BYTES, shrink_preview

SECRET = "a secret prompt about a lighthouse"


def comfy_png(mode: str = "RGB", size: tuple[int, int] = (48, 32)) -> bytes:
    color: tuple[int, ...] = (10, 120, 200, 0) if mode == "RGBA" else (10, 120, 200)
    image = Image.new(mode, size, color)
    if mode == "RGBA":
        image.paste((255, 0, 0, 255), (0, 0, 16, 16))
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps({"6": {"inputs": {"text": SECRET}}}))
    info.add_text("workflow", '{"nodes": []}')
    info.add_itxt("extra", SECRET)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def comfy_webp(frames: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0110] = f"prompt:{SECRET}"
    images = [Image.new("RGB", (16, 16), (i * 40, 0, 0)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(
        out,
        "WEBP",
        exif=exif.tobytes(),
        xmp=f"<x>{SECRET}</x>".encode(),
        save_all=frames > 1,
        append_images=images[1:],
        duration=50,
    )
    return out.getvalue()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA").tobytes()


async def chunked(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def run(data: bytes, content_type: str, policy: OutputPolicy) -> tuple[str, bytes, bool]:
    processed = await process(chunked(data), content_type, policy)
    body = b"".join([chunk async for chunk in processed.chunks])
    return processed.content_type, body, processed.converted


# -- formats ------------------------------------------------------------------------------


def test_formats_accept_aliases_and_default_quality() -> None:
    assert parse_output_format("JPEG", 0) == OutputFormat("jpg", 90)
    assert parse_output_format("webp", 55) == OutputFormat("webp", 55)
    assert parse_output_format("", 0) is None
    assert parse_convert("", 0) is None
    assert parse_convert("png", 0) == OutputFormat("png", 90)


@pytest.mark.parametrize(
    ("name", "quality", "field"),
    [
        ("gif", 0, "outputFormat.format"),
        ("jpg", 101, "outputFormat.quality"),
        ("jpg", -1, "outputFormat.quality"),
        ("", 40, "outputFormat.format"),
    ],
)
def test_bad_output_formats_name_their_field(name: str, quality: int, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_output_format(name, quality)
    assert caught.value.details == [{"field": field, "message": caught.value.details[0]["message"]}]


def test_bad_convert_names_its_field() -> None:
    with pytest.raises(ValidationError, match="convert"):
        parse_convert("bmp", 0)
    with pytest.raises(ValidationError, match="quality"):
        parse_convert("", 101)
    assert parse_convert("", 30) is None  # a quality alone converts nothing


# -- metadata filters ---------------------------------------------------------------------


def test_png_filter_drops_text_chunks_and_keeps_pixels_byte_for_byte() -> None:
    original = comfy_png()
    stripped = strip_png(original)
    assert SECRET.encode() not in stripped and b"tEXt" not in stripped and b"iTXt" not in stripped
    assert pixels(stripped) == pixels(original)
    assert len(original) - len(stripped) > len(SECRET)


def test_png_filter_gives_the_same_bytes_whatever_the_chunking() -> None:
    original = comfy_png()
    for size in (1, 3, 8, 13, 4096):
        f = PngTextFilter()
        out = b"".join(f.feed(original[i : i + size]) for i in range(0, len(original), size))
        assert out + f.close() == strip_png(original)


def test_png_filter_passes_other_bytes_through() -> None:
    assert strip_png(b"GIF89a not a png at all") == b"GIF89a not a png at all"


def test_webp_filter_drops_exif_and_xmp_of_stills_and_animations() -> None:
    for frames in (1, 3):
        original = comfy_webp(frames)
        assert SECRET.encode() in original
        stripped = strip_webp(original)
        assert SECRET.encode() not in stripped
        with Image.open(io.BytesIO(stripped)) as image:
            assert getattr(image, "n_frames", 1) == frames
            assert "exif" not in image.info and "xmp" not in image.info
        assert int.from_bytes(stripped[4:8], "little") == len(stripped) - 8


def test_jpeg_filter_drops_exif() -> None:
    exif = Image.Exif()
    exif[0x010E] = SECRET
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(out, "JPEG", exif=exif.tobytes())
    stripped = strip_jpeg(out.getvalue())
    assert SECRET.encode() in out.getvalue() and SECRET.encode() not in stripped
    assert pixels(stripped) == pixels(out.getvalue())


# -- pipeline -----------------------------------------------------------------------------


async def test_nothing_to_do_streams_the_original() -> None:
    original = comfy_png()
    assert await run(original, "image/png", OutputPolicy()) == ("image/png", original, False)


async def test_strip_only_keeps_the_type_and_the_pixels() -> None:
    original = comfy_png()
    content_type, body, converted = await run(original, "image/png", OutputPolicy(strip=True))
    assert (content_type, converted) == ("image/png", False)
    assert body == strip_png(original)


async def test_jpg_flattens_alpha_onto_white() -> None:
    policy = OutputPolicy(target=OutputFormat("jpg", 95), strip=True)
    content_type, body, converted = await run(comfy_png("RGBA"), "image/png", policy)
    assert (content_type, converted) == ("image/jpeg", True)
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "JPEG" and image.mode == "RGB"
        transparent = image.getpixel((40, 20))
        opaque = image.getpixel((8, 8))
    assert isinstance(transparent, tuple) and min(transparent) > 245
    assert isinstance(opaque, tuple) and opaque[0] > 200 and opaque[1] < 60
    assert SECRET.encode() not in body


async def test_webp_conversion_keeps_the_prompt_only_in_keep_mode() -> None:
    kept = await run(comfy_png(), "image/png", OutputPolicy(target=OutputFormat("webp")))
    stripped = await run(
        comfy_png(), "image/png", OutputPolicy(target=OutputFormat("webp"), strip=True)
    )
    for content_type, body, _ in (kept, stripped):
        assert content_type == "image/webp"
        assert body[:4] == b"RIFF" and body[8:12] == b"WEBP"
    assert SECRET.encode() in kept[1]  # as ComfyUI's own WEBP saver writes it (EXIF)
    assert SECRET.encode() not in stripped[1]


async def test_non_images_and_animations_pass_through_with_their_type() -> None:
    policy = OutputPolicy(target=OutputFormat("jpg"))
    animated = comfy_webp(frames=3)
    assert await run(animated, "image/webp", policy) == ("image/webp", animated, False)
    text = b"hello from PreviewAny"
    assert await run(text, "text/plain; charset=utf-8", policy) == (
        "text/plain; charset=utf-8",
        text,
        False,
    )
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(100)
    assert await run(video, "video/mp4", OutputPolicy(strip=True)) == ("video/mp4", video, False)


async def test_an_undecodable_image_is_kept_as_it_came() -> None:
    truncated = comfy_png(size=(256, 256))[:-40]
    policy = OutputPolicy(target=OutputFormat("jpg"), strip=True)
    content_type, body, converted = await run(truncated, "image/png", policy)
    assert (content_type, converted) == ("image/png", False)
    assert body == strip_png(truncated)


async def test_same_format_is_not_re_encoded() -> None:
    original = comfy_png()
    policy = job_policy({"format": "png", "quality": 90}, strip=False)
    assert await run(original, "image/png", policy) == ("image/png", original, False)


# -- previews -----------------------------------------------------------------------------


def test_previews_are_shrunk_and_bounded() -> None:
    noisy = Image.effect_noise((1024, 768), 100).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=95)
    frame = shrink_preview(out.getvalue())
    assert frame is not None and frame.content_type == "image/jpeg"
    assert max(frame.width, frame.height) <= 256 and len(frame.data) <= MAX_PREVIEW_BYTES
    with Image.open(io.BytesIO(frame.data)) as image:
        assert image.size == (frame.width, frame.height)
    assert shrink_preview(b"\xff\xd8 truncated") is None
