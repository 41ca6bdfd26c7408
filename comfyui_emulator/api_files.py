"""Routes that move files: ``GET /view``, ``POST /upload/image``, ``POST /upload/mask``.

Status codes follow ComfyUI's ``server.py`` exactly: 400 for a bad type or a filename with
``..``, 403 for a subfolder that climbs out, 404 with an empty body for anything missing.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from PIL import Image

from comfyui_emulator.api_prompt import STATE
from comfyui_emulator.storage import Storage, content_type_for


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


async def _form(request: web.Request) -> dict[str, Any]:
    """The multipart fields: files as (filename, bytes), others as text."""
    fields: dict[str, Any] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is not None:
            fields[part.name] = (part.filename, bytes(await part.read()))
        else:
            fields[part.name] = await part.text()
    return fields


async def _upload(request: web.Request, mask: bool) -> web.Response:
    storage = request.app[STATE].storage
    try:
        post = await _form(request)
    except (AssertionError, ValueError):
        return web.Response(status=400)
    image = post.get("image")
    if not isinstance(image, tuple) or not image[0]:
        return web.Response(status=400)
    filename, data = image
    subfolder = str(post.get("subfolder", ""))
    overwrite = str(post.get("overwrite", "")) in ("true", "1")
    if mask:
        try:
            data = _apply_mask(
                storage.directory, json.loads(str(post.get("original_ref", ""))), data
            )
        except (OSError, ValueError, KeyError, TypeError):
            return web.Response(status=400)
    target = storage.upload_target(post.get("type"), subfolder, filename, data, overwrite)
    if target is None:
        return web.Response(status=400)
    path, name, kind, duplicate = target
    if not duplicate:
        _write(path, data)
    return web.json_response({"name": name, "subfolder": subfolder, "type": kind})


def _apply_mask(directory: Any, ref: dict[str, Any], mask_data: bytes) -> bytes:
    """ComfyUI's mask upload: the original picture with the mask's alpha put in."""
    folder = directory(ref.get("type", "input"))
    if folder is None or ".." in str(ref["filename"]):
        raise ValueError("bad original_ref")
    path = os.path.join(
        folder, os.path.normpath(str(ref.get("subfolder", ""))), str(ref["filename"])
    )
    with Image.open(path) as original, Image.open(io.BytesIO(mask_data)) as mask:
        merged = original.convert("RGBA")
        merged.putalpha(mask.convert("RGBA").getchannel("A").resize(merged.size))
    buffer = io.BytesIO()
    merged.save(buffer, format="PNG", compress_level=4)
    return buffer.getvalue()


def _write(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


async def upload_image(request: web.Request) -> web.Response:
    return await _upload(request, mask=False)


async def upload_mask(request: web.Request) -> web.Response:
    return await _upload(request, mask=True)


def add_routes(routes: web.RouteTableDef, prefix: str) -> None:
    routes.get(f"{prefix}/view")(view)
    routes.post(f"{prefix}/upload/image")(upload_image)
    routes.post(f"{prefix}/upload/mask")(upload_mask)
