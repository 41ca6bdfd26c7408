"""Deterministic pictures and the pixel operations of the emulated image nodes.

A picture is derived from (seed, prompt text, batch index) only, so the same prompt gives
the same bytes and different seeds give different pictures. It is drawn on a light
background with darker shapes, which lets the transparent-sprite workflow (threshold on
brightness → alpha) cut the background out as it would on a real sprite.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from comfyui_emulator.values import Images, Latent, Masks

_RESAMPLE = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "bislerp": Image.Resampling.BICUBIC,
}


def render(seed: int, text: str, width: int, height: int, index: int = 0) -> Image.Image:
    """A picture determined by ``seed``, ``text`` and ``index``: light ground, dark shapes."""
    rng = random.Random(f"{seed}|{text}|{index}")
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    top = tuple(rng.randint(225, 255) for _ in range(3))
    bottom = tuple(rng.randint(225, 255) for _ in range(3))
    for y in range(height):
        t = y / max(1, height - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    for _ in range(rng.randint(3, 7)):
        x0, x1 = sorted(rng.uniform(0.1, 0.9) * width for _ in range(2))
        y0, y1 = sorted(rng.uniform(0.1, 0.9) * height for _ in range(2))
        fill = tuple(rng.randint(0, 170) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)], fill=fill)
        else:
            draw.rectangle([x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)], fill=fill)
    return image


def blank(width: int, height: int, colour: int = 0x808080) -> Image.Image:
    """A flat picture of an ``0xRRGGBB`` colour (EmptyImage's ``color``)."""
    return Image.new(
        "RGB", (width, height), ((colour >> 16) & 255, (colour >> 8) & 255, colour & 255)
    )


def resize(images: Images, width: int, height: int, method: str, crop: str = "disabled") -> Images:
    """ImageScale: a 0 side keeps the aspect ratio; ``center`` crops before scaling."""
    out: Images = []
    for image in images:
        w, h = image.size
        target_w = width or max(1, round(w * height / h))
        target_h = height or max(1, round(h * width / w))
        if not width and not height:
            target_w, target_h = w, h
        source = image
        if crop == "center":
            ratio, target_ratio = w / h, target_w / target_h
            if ratio > target_ratio:
                new_w = round(h * target_ratio)
                x = (w - new_w) // 2
                source = image.crop((x, 0, x + new_w, h))
            elif ratio < target_ratio:
                new_h = round(w / target_ratio)
                y = (h - new_h) // 2
                source = image.crop((0, y, w, y + new_h))
        out.append(
            source.resize((target_w, target_h), _RESAMPLE.get(method, Image.Resampling.BILINEAR))
        )
    return out


def scale_by(images: Images, factor: float, method: str) -> Images:
    """ImageScaleBy / model upscaling: both sides times ``factor``, rounded."""
    return [
        image.resize(
            (max(1, round(image.width * factor)), max(1, round(image.height * factor))),
            _RESAMPLE.get(method, Image.Resampling.BILINEAR),
        )
        for image in images
    ]


def invert(images: Images) -> Images:
    """ImageInvert: 1 - x on the colour channels, alpha kept."""
    out: Images = []
    for image in images:
        if image.mode == "RGBA":
            r, g, b, a = image.split()
            rgb = ImageChops.invert(Image.merge("RGB", (r, g, b)))
            out.append(Image.merge("RGBA", (*rgb.split(), a)))
        else:
            out.append(ImageChops.invert(image.convert("RGB")))
    return out


def blur(images: Images, radius: int, sigma: float) -> Images:
    """ImageBlur: a Gaussian blur (the radius bounds the kernel, sigma sets its width)."""
    return [
        image.filter(ImageFilter.GaussianBlur(min(float(radius), sigma * 3))) for image in images
    ]


def sharpen(images: Images, radius: int, alpha: float) -> Images:
    """ImageSharpen: an unsharp mask of the given radius and strength."""
    return [
        image.filter(ImageFilter.UnsharpMask(radius=radius, percent=round(alpha * 100)))
        for image in images
    ]


def channel_mask(images: Images, channel: str) -> Masks:
    """ImageToMask: one channel as a mask; a missing alpha reads as fully opaque (1)."""
    index = {"red": 0, "green": 1, "blue": 2, "alpha": 3}[channel]
    masks: Masks = []
    for image in images:
        if index == 3 and image.mode != "RGBA":
            masks.append(Image.new("L", image.size, 255))
        else:
            masks.append(image.convert("RGBA").split()[index])
    return masks


def threshold(masks: Masks, value: float) -> Masks:
    """ThresholdMask: 1 where the mask is above ``value``, else 0."""
    cut = value * 255.0
    return [mask.point(lambda p: 255 if p > cut else 0) for mask in masks]


def invert_masks(masks: Masks) -> Masks:
    return [ImageChops.invert(mask) for mask in masks]


def join_alpha(images: Images, masks: Masks) -> Images:
    """JoinImageWithAlpha: alpha = 1 - mask (a ComfyUI MASK is inverted alpha)."""
    out: Images = []
    for i, image in enumerate(images):
        mask = masks[min(i, len(masks) - 1)]
        if mask.size != image.size:
            mask = mask.resize(image.size, Image.Resampling.BILINEAR)
        out.append(Image.merge("RGBA", (*image.convert("RGB").split(), ImageChops.invert(mask))))
    return out


def _pick(images: Images, index: int) -> Image.Image:
    return images[min(index, len(images) - 1)]


def decode(latent: Latent) -> Images:
    """VAEDecode: what a latent turns into, at 8x its size.

    A sampled latent shows the picture of its seed and prompt, blended over its base
    (the encoded input) by ``denoise`` (0 keeps the input, 1 is fully generated) and,
    with a noise mask, only inside the mask; an unsampled one shows its base as is.
    """
    width, height = latent.pixel_size
    images: Images = []
    for index in range(latent.batch):
        base = _pick(list(latent.base), index) if latent.base else None
        if base is not None:
            base = base.convert("RGB")
            if base.size != (width, height):
                base = base.resize((width, height), Image.Resampling.BILINEAR)
        if not latent.sampled or latent.seed is None:
            images.append(base if base is not None else blank(width, height))
            continue
        picture = render(latent.seed, latent.text, width, height, index)
        if base is not None and latent.denoise < 1.0:
            picture = Image.blend(base, picture, max(0.0, latent.denoise))
        if latent.noise_mask:
            mask = _pick(list(latent.noise_mask), index).convert("L")
            if mask.size != (width, height):
                mask = mask.resize((width, height), Image.Resampling.BILINEAR)
            ground = base if base is not None else blank(width, height)
            picture = Image.composite(picture, ground, mask)
        images.append(picture)
    return images


def resize_masks(masks: Masks, size: tuple[int, int]) -> Masks:
    return [m if m.size == size else m.resize(size, Image.Resampling.BILINEAR) for m in masks]


def crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """``vae_encode_crop_pixels``: sides cut down to multiples of 8, centred."""
    left, top = (width % 8) // 2, (height % 8) // 2
    return left, top, left + width // 8 * 8, top + height // 8 * 8


def encode_crop(images: Images) -> Images:
    """What VAEEncode encodes: each picture cropped by ``crop_box``."""
    return [image.crop(crop_box(*image.size)) for image in images]


def inpaint_inputs(images: Images, masks: Masks, grow_by: int) -> tuple[Images, Masks]:
    """VAEEncodeForInpaint's pixel work: sides cropped to multiples of 8 (centred), the
    masked area (mask rounded) painted mid-grey, and the noise mask grown by
    ``grow_by`` pixels so the seam is regenerated too."""
    width, height = images[0].size
    box = crop_box(width, height)
    crop_w, crop_h = box[2] - box[0], box[3] - box[1]
    pixels: Images = []
    noise: Masks = []
    for index, image in enumerate(images):
        mask = resize_masks([_pick(masks, index)], (width, height))[0].crop(box)
        hard = mask.point(lambda p: 255 if p >= 128 else 0)
        grey = Image.new("RGB", (crop_w, crop_h), (128, 128, 128))
        pixels.append(Image.composite(grey, image.convert("RGB").crop(box), hard))
        if grow_by > 0:
            size = grow_by if grow_by % 2 else grow_by + 1
            hard = hard.filter(ImageFilter.MaxFilter(size))
        noise.append(hard)
    return pixels, noise


def preview_jpeg(
    seed: int,
    text: str,
    width: int,
    height: int,
    fraction: float,
    start: Image.Image | None = None,
) -> bytes:
    """A latent2rgb-like preview: the final picture fading in as steps pass, from grey
    or, for image-to-image, from the input picture."""
    picture = render(seed, text, width, height)
    if start is None:
        ground = Image.new("RGB", picture.size, (128, 128, 128))
    else:
        ground = start.convert("RGB").resize(picture.size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    Image.blend(ground, picture, max(0.0, min(1.0, fraction))).save(
        buffer, format="JPEG", quality=80
    )
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
