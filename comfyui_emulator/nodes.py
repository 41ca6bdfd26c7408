"""What each emulated node class does, over the values in ``values.py``.

Each implementation takes a ``NodeContext`` (the running prompt: folders, step hook,
preview frames) and the node's resolved inputs, and returns its outputs plus the ``ui``
dict that ComfyUI records in history and sends in ``executed``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from PIL import Image, ImageOps, ImageSequence, PngImagePlugin

from comfyui_emulator import imaging
from comfyui_emulator.storage import Storage
from comfyui_emulator.values import (
    Clip,
    Conditioning,
    Images,
    Latent,
    Model,
    UpscaleModel,
    Vae,
)


class NodeContext(Protocol):
    """The executor's services a node can use."""

    storage: Storage
    prompt: dict[str, Any]
    extra_pnginfo: Any
    node_id: str
    previews: bool

    async def step(
        self, value: int, total: int, preview: tuple[str, bytes] | None, *, wait: bool = True
    ) -> None:
        """Report step ``value`` of ``total`` (and maybe a preview); ``wait`` one step time."""
        ...

    async def ensure_loaded(self, checkpoint: str) -> None:
        """Load ``checkpoint`` into (emulated) VRAM unless it is resident: ``load_ms``."""
        ...


@dataclass
class NodeResult:
    """A node's outputs (by output slot) and the ``ui`` part shown to clients."""

    outputs: tuple[Any, ...] = ()
    ui: dict[str, Any] = field(default_factory=dict)


NodeFunction = Callable[[NodeContext, dict[str, Any]], Awaitable[NodeResult]]
NODES: dict[str, NodeFunction] = {}


def node(name: str) -> Callable[[NodeFunction], NodeFunction]:
    def register(function: NodeFunction) -> NodeFunction:
        NODES[name] = function
        return function

    return register


@node("CheckpointLoaderSimple")
async def checkpoint_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    name = str(i["ckpt_name"])
    await ctx.ensure_loaded(name)
    return NodeResult((Model(name), Clip(name), Vae(name)))


@node("VAELoader")
async def vae_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((Vae(str(i["vae_name"])),))


@node("LoraLoader")
async def lora_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    model, clip, lora = i["model"], i["clip"], str(i["lora_name"])
    return NodeResult(
        (replace(model, loras=(*model.loras, lora)), replace(clip, loras=(*clip.loras, lora)))
    )


@node("LoraLoaderModelOnly")
async def lora_loader_model_only(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    model = i["model"]
    return NodeResult((replace(model, loras=(*model.loras, str(i["lora_name"]))),))


@node("CLIPSetLastLayer")
async def clip_set_last_layer(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((replace(i["clip"], last_layer=int(i["stop_at_clip_layer"])),))


@node("CLIPTextEncode")
async def clip_text_encode(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((Conditioning(str(i["text"])),))


@node("EmptyLatentImage")
async def empty_latent(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((Latent(int(i["width"]) // 8, int(i["height"]) // 8, int(i["batch_size"])),))


async def _sample(
    ctx: NodeContext, model: Model, latent: Latent, seed: int, text: str, steps: int
) -> Latent:
    await ctx.ensure_loaded(model.name)
    if latent.sampled:
        # A second pass (hires fix, refiner) starts from what the first one made.
        latent = replace(latent, base=tuple(await asyncio.to_thread(imaging.decode, latent)))
    width, height = latent.pixel_size
    preview_size = (min(width, 512), min(height, 512))
    start = latent.base[0] if latent.base else None
    for step in range(1, steps + 1):
        preview = None
        if ctx.previews:
            frame = imaging.preview_jpeg(seed, text, *preview_size, step / steps, start)
            preview = ("JPEG", frame)
        await ctx.step(step, steps, preview)
    return replace(latent, seed=seed, text=text, sampled=True)


@node("KSampler")
async def ksampler(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    positive: Conditioning = i["positive"]
    latent = await _sample(
        ctx, i["model"], i["latent_image"], int(i["seed"]), positive.text, int(i["steps"])
    )
    return NodeResult((replace(latent, denoise=float(i["denoise"])),))


@node("KSamplerAdvanced")
async def ksampler_advanced(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    positive: Conditioning = i["positive"]
    total = int(i["steps"])
    start, end = int(i["start_at_step"]), min(int(i["end_at_step"]), total)
    steps = max(1, end - start)
    latent = await _sample(
        ctx, i["model"], i["latent_image"], int(i["noise_seed"]), positive.text, steps
    )
    # Starting later on the schedule keeps more of the input, like a lower denoise.
    return NodeResult((replace(latent, denoise=min(1.0, max(0.0, (total - start) / total))),))


@node("VAEDecode")
async def vae_decode(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((await asyncio.to_thread(imaging.decode, i["samples"]),))


@node("VAEEncode")
async def vae_encode(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    images = imaging.encode_crop(i["pixels"])
    width, height = images[0].size
    return NodeResult((Latent(width // 8, height // 8, len(images), base=tuple(images)),))


@node("VAEEncodeForInpaint")
async def vae_encode_for_inpaint(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    pixels, noise = await asyncio.to_thread(
        imaging.inpaint_inputs, i["pixels"], i["mask"], int(i["grow_mask_by"])
    )
    width, height = pixels[0].size
    latent = Latent(width // 8, height // 8, len(pixels), base=tuple(pixels))
    return NodeResult((replace(latent, noise_mask=tuple(noise)),))


@node("SetLatentNoiseMask")
async def set_latent_noise_mask(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((replace(i["samples"], noise_mask=tuple(i["mask"])),))


@node("LatentUpscale")
async def latent_upscale(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    latent: Latent = i["samples"]
    width, height = int(i["width"]) // 8, int(i["height"]) // 8
    if width == 0 and height == 0:
        width, height = latent.width, latent.height
    elif width == 0:
        width = max(1, round(latent.width * height / latent.height))
    elif height == 0:
        height = max(1, round(latent.height * width / latent.width))
    return NodeResult((latent.resized(width, height),))


@node("LatentUpscaleBy")
async def latent_upscale_by(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    latent: Latent = i["samples"]
    factor = float(i["scale_by"])
    return NodeResult(
        (latent.resized(round(latent.width * factor), round(latent.height * factor)),)
    )


@node("EmptyImage")
async def empty_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    picture = imaging.blank(int(i["width"]), int(i["height"]), int(i["color"]))
    return NodeResult(([picture.copy() for _ in range(int(i["batch_size"]))],))


@node("LoadImage")
async def load_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    images, masks = await asyncio.to_thread(_load_frames, ctx, str(i["image"]))
    return NodeResult((images, masks))


def _load_frames(ctx: NodeContext, name: str) -> tuple[Images, Images]:
    """LoadImage: every frame the size of the first one as a batch (one frame for MPO),
    each as RGB plus its MASK (1 - alpha; palette transparency counts as alpha)."""
    images: Images = []
    masks: Images = []
    with Image.open(ctx.storage.annotated_path(name)) as opened:
        for raw in ImageSequence.Iterator(opened):
            frame = ImageOps.exif_transpose(raw)
            if images and frame.size != images[0].size:
                continue
            if "A" in frame.getbands():
                mask = imaging.invert_masks([frame.getchannel("A")])[0]
            elif frame.mode == "P" and "transparency" in frame.info:
                mask = imaging.invert_masks([frame.convert("RGBA").getchannel("A")])[0]
            else:
                mask = Image.new("L", (64, 64), 0)  # ComfyUI's stand-in without alpha
            images.append(frame.convert("RGB"))
            masks.append(mask)
            if opened.format == "MPO":
                break
    return images, masks


def _open(ctx: NodeContext, name: str) -> Image.Image:
    """The file as ComfyUI's loaders see it: decoded, EXIF orientation applied."""
    with Image.open(ctx.storage.annotated_path(name)) as opened:
        picture = ImageOps.exif_transpose(opened)
        picture.load()
    return picture


@node("LoadImageMask")
async def load_image_mask(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    """One channel as a MASK the image's size; ``alpha`` inverted (1 - alpha)."""
    picture = _open(ctx, str(i["image"]))
    if picture.getbands() != ("R", "G", "B", "A"):
        picture = picture.convert("RGBA")
    band = str(i["channel"])[0].upper()
    mask = picture.getchannel(band)
    if band == "A":
        mask = imaging.invert_masks([mask])[0]
    return NodeResult(([mask],))


@node("ImageInvert")
async def image_invert(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((imaging.invert(i["image"]),))


@node("ImageScale")
async def image_scale(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    images = imaging.resize(
        i["image"], int(i["width"]), int(i["height"]), str(i["upscale_method"]), str(i["crop"])
    )
    return NodeResult((images,))


@node("ImageScaleBy")
async def image_scale_by(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult(
        (imaging.scale_by(i["image"], float(i["scale_by"]), str(i["upscale_method"])),)
    )


@node("ImageBlur")
async def image_blur(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((imaging.blur(i["image"], int(i["blur_radius"]), float(i["sigma"])),))


@node("ImageSharpen")
async def image_sharpen(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((imaging.sharpen(i["image"], int(i["sharpen_radius"]), float(i["alpha"])),))


@node("ImageToMask")
async def image_to_mask(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((imaging.channel_mask(i["image"], str(i["channel"])),))


@node("ThresholdMask")
async def threshold_mask(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((imaging.threshold(i["mask"], float(i["value"])),))


@node("InvertMask")
async def invert_mask(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((imaging.invert_masks(i["mask"]),))


@node("MaskToImage")
async def mask_to_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult(([mask.convert("RGB") for mask in i["mask"]],))


@node("SolidMask")
async def solid_mask(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    level = round(float(i["value"]) * 255)
    return NodeResult(([Image.new("L", (int(i["width"]), int(i["height"])), level)],))


@node("JoinImageWithAlpha")
async def join_image_with_alpha(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((imaging.join_alpha(i["image"], i["alpha"]),))


@node("UpscaleModelLoader")
async def upscale_model_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    name = str(i["model_name"])
    found = re.search(r"(\d+)x|x(\d+)", name, re.IGNORECASE)
    scale = int(found.group(1) or found.group(2)) if found else 4
    return NodeResult((UpscaleModel(name, scale),))


@node("ImageUpscaleWithModel")
async def image_upscale_with_model(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    model: UpscaleModel = i["upscale_model"]
    return NodeResult(
        (await asyncio.to_thread(imaging.scale_by, i["image"], model.scale, "lanczos"),)
    )


def _save(ctx: NodeContext, images: Images, prefix: str, kind: str, level: int) -> list[Any]:
    folder = ctx.storage.output_dir if kind == "output" else ctx.storage.temp_dir
    width, height = images[0].size if images else (0, 0)
    prefix = prefix.replace("%width%", str(width)).replace("%height%", str(height))
    if kind == "output":
        full, name, counter, subfolder = ctx.storage.save_path(prefix)
    else:
        full, name, counter, subfolder = folder, prefix, 1, ""
    metadata = PngImagePlugin.PngInfo()
    metadata.add_text("prompt", json.dumps(ctx.prompt))
    if isinstance(ctx.extra_pnginfo, dict):
        for key, value in ctx.extra_pnginfo.items():
            metadata.add_text(str(key), json.dumps(value))
    results: list[Any] = []
    for batch_number, image in enumerate(images):
        filename = f"{name.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
        image.save(os.path.join(full, filename), pnginfo=metadata, compress_level=level)
        results.append({"filename": filename, "subfolder": subfolder, "type": kind})
        counter += 1
    return results


@node("SaveImage")
async def save_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    images = await asyncio.to_thread(
        _save, ctx, i["images"], str(i["filename_prefix"]), "output", 4
    )
    return NodeResult((), {"images": images})


@node("PreviewImage")
async def preview_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    # ComfyUI's own alphabet for these names (sic: "tupv", no "w").
    suffix = "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
    prefix = f"ComfyUI_temp_{suffix}"
    images = await asyncio.to_thread(_save, ctx, i["images"], prefix, "temp", 1)
    return NodeResult((), {"images": images})


@node("SaveImageWebsocket")
async def save_image_websocket(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    images: Images = i["images"]
    for index, image in enumerate(images):
        await ctx.step(index, len(images), ("PNG", imaging.png_bytes(image)), wait=False)
    return NodeResult(())


@node("PreviewAny")
async def preview_any(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    source = i["source"]
    value = "None"
    if isinstance(source, str):
        value = source
    elif isinstance(source, int | float | bool):
        value = str(source)
    elif source is not None:
        try:
            value = json.dumps(source)
        except (TypeError, ValueError):
            value = str(source)
    return NodeResult((), {"text": [value]})
