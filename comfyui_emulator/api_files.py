"""Routes that move files: ``GET /view``, ``POST /upload/image``, ``POST /upload/mask``.

Status codes follow ComfyUI's ``server.py`` exactly: 400 for a bad type or a filename with
``..``, 403 for a subfolder that climbs out, 404 with an empty body for anything missing.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web
from PIL import Image, PngImagePlugin

from comfyui_emulator.api_prompt import STATE
from comfyui_emulator.storage import Storage, content_type_for

log = logging.getLogger("comfyui_emulator")


def _locate(storage: Storage, query: Mapping[str, str]) -> str | int:
    """The file ``/view`` serves, or the status code ComfyUI answers instead."""
    if "filename" not in query:
        return 404
    filename, output_dir = storage.annotated(query["filename"])
    if not filename:
        return 400
    if filename[0] == "/" or ".." in filename:
        return 400
    if output_dir is None:
        output_dir = storage.directory(query.get("type", "output"))
    if output_dir is None:
        return 400
    if "subfolder" in query:
        full = os.path.join(output_dir, query["subfolder"])
        if os.path.commonpath((os.path.abspath(full), output_dir)) != output_dir:
            return 403
        output_dir = full
    path = os.path.join(output_dir, os.path.basename(filename))
    return path if os.path.isfile(path) else 404


async def view(request: web.Request) -> web.StreamResponse:
    query = request.rel_url.query
    located = _locate(request.app[STATE].storage, query)
    if isinstance(located, int):
        return web.Response(status=located)
    path = located
    filename = os.path.basename(path)
    disposition = {"Content-Disposition": f'filename="{filename}"'}
    if "preview" in query:
        preview = query["preview"].split(";")
        image_format = preview[0] if preview[0] in ("webp", "jpeg") else "webp"
        quality = int(preview[-1]) if preview[-1].isdigit() else 90
        with Image.open(path) as opened:
            image = opened.convert("RGB") if image_format == "jpeg" else opened.copy()
        buffer = io.BytesIO()
        image.save(buffer, format=image_format, quality=quality)
        return web.Response(
            body=buffer.getvalue(), content_type=f"image/{image_format}", headers=disposition
        )
    channel = query.get("channel", "rgba")
    if channel in ("rgb", "a"):
        with Image.open(path) as opened:
            rgba = opened.convert("RGBA")
        if channel == "rgb":
            image = rgba.convert("RGB")
        else:
            image = Image.new("RGBA", rgba.size)
            image.putalpha(rgba.getchannel("A"))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return web.Response(body=buffer.getvalue(), content_type="image/png", headers=disposition)
    return web.FileResponse(
        path, headers={**disposition, "Content-Type": content_type_for(filename)}
    )


def _server_error() -> web.Response:
    return web.Response(status=500, text="500 Internal Server Error", content_type="text/plain")


async def _upload(request: web.Request, mask: bool) -> web.Response:
    """ComfyUI's ``image_upload``, status for status (see comfyui-protocol.md)."""
    storage = request.app[STATE].storage
    post = await request.post()  # not a form: no fields, so the 400 below
    image = post.get("image")
    if image is None:
        return web.Response(status=400)
    if not isinstance(image, web.FileField):
        return _server_error()  # a plain field (or an empty file name) has no .file
    kind = post.get("type")
    kind = "input" if kind is None else str(kind)
    upload_dir = storage.directory(kind)
    filename = image.filename
    if upload_dir is None:
        return _server_error()  # ComfyUI's get_dir_by_type fails on an unknown type
    data = image.file.read()
    subfolder = str(post.get("subfolder", ""))
    overwrite = str(post.get("overwrite")) in ("true", "1")
    target = storage.upload_target(upload_dir, subfolder, filename, data, overwrite)
    if target is None:
        return web.Response(status=400)
    path, name, duplicate = target
    if not duplicate:
        try:
            if mask:
                _save_masked(storage, str(post.get("original_ref")), data, path)
            else:
                _write(path, data)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            log.exception("upload failed")
            return _server_error()
    return web.json_response({"name": name, "subfolder": subfolder, "type": kind})


def _write(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


def _save_masked(storage: Storage, original_ref: str, mask_data: bytes, path: str) -> None:
    """``/upload/mask``: the original picture with the mask's alpha, saved at ``path``.

    As ComfyUI: a bad or missing original writes nothing (the answer is still 200),
    a missing or non-JSON ``original_ref`` or a size mismatch raises (a 500).
    """
    ref = json.loads(original_ref)
    filename, folder = storage.annotated(str(ref["filename"]))
    if not filename or filename[0] == "/" or ".." in filename:
        return
    if folder is None:
        folder = storage.directory(ref.get("type", "output"))
    if folder is None:
        return
    subfolder = str(ref.get("subfolder", ""))
    if subfolder:
        full = os.path.join(folder, subfolder)
        if os.path.commonpath((os.path.abspath(full), folder)) != folder:
            return
        folder = full
    original_path = os.path.join(folder, filename)
    if not os.path.isfile(original_path):
        return
    with Image.open(original_path) as original, Image.open(io.BytesIO(mask_data)) as mask:
        metadata = PngImagePlugin.PngInfo()
        for key, value in getattr(original, "text", {}).items():
            metadata.add_text(key, value)
        merged = original.convert("RGBA")
        merged.putalpha(mask.convert("RGBA").getchannel("A"))
    merged.save(path, compress_level=4, pnginfo=metadata)


async def upload_image(request: web.Request) -> web.Response:
    return await _upload(request, mask=False)


async def upload_mask(request: web.Request) -> web.Response:
    return await _upload(request, mask=True)


def add_routes(routes: web.RouteTableDef, prefix: str) -> None:
    routes.get(f"{prefix}/view")(view)
    routes.post(f"{prefix}/upload/image")(upload_image)
    routes.post(f"{prefix}/upload/mask")(upload_mask)
