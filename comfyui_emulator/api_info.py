"""Read-only routes about the server: /system_stats, /object_info, /features, /models..."""

from __future__ import annotations

import platform
import sys

from aiohttp import web

from comfyui_emulator.api_prompt import STATE
from comfyui_emulator.catalogue import MODEL_FOLDERS, model_files
from comfyui_emulator.hub import SERVER_FEATURES

COMFYUI_VERSION = "0.3.64"
VRAM_TOTAL = 8_589_934_592  # an 8 GiB card


INDEX_HTML = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>ComfyUI</title>
</head>
<body>
<p>ComfyUI emulator (emulating ComfyUI 0.3.64): the API is served here, there is no web UI.</p>
</body>
</html>
"""


async def index(request: web.Request) -> web.Response:
    """``GET /``: ComfyUI serves its frontend's index.html, which peers use as a ping."""
    return web.Response(
        body=INDEX_HTML,
        headers={
            "Content-Type": "text/html",
            "Cache-Control": "no-cache",
            "Pragma": "no-cache",
            "Expires": "0",
        },
    )


async def system_stats(request: web.Request) -> web.Response:
    config = request.app[STATE].config
    return web.json_response(
        {
            "system": {
                "os": "posix",
                "ram_total": 25_276_514_304,
                "ram_free": 19_327_352_832,
                "comfyui_version": COMFYUI_VERSION,
                "required_frontend_version": "1.27.10",
                "installed_templates_version": "0.1.95",
                "required_templates_version": "0.1.95",
                "python_version": sys.version,
                "pytorch_version": "2.14.1+cu130 (emulated)",
                "embedded_python": False,
                "argv": list(config.argv),
            },
            "devices": [
                {
                    "name": f"cuda:0 Emulated GPU ({platform.machine()}) : cudaMallocAsync",
                    "type": "cuda",
                    "index": 0,
                    "vram_total": VRAM_TOTAL,
                    "vram_free": VRAM_TOTAL - 1_073_741_824,
                    "torch_vram_total": 0,
                    "torch_vram_free": 0,
                }
            ],
        }
    )


async def object_info(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].catalogue.object_info())


async def object_info_class(request: web.Request) -> web.Response:
    catalogue = request.app[STATE].catalogue
    name = request.match_info["node_class"]
    return web.json_response({name: catalogue.entry(name)} if catalogue.has(name) else {})


async def features(request: web.Request) -> web.Response:
    return web.json_response(SERVER_FEATURES)


async def models(request: web.Request) -> web.Response:
    return web.json_response(list(MODEL_FOLDERS))


async def models_in_folder(request: web.Request) -> web.Response:
    files = model_files(request.app[STATE].config, request.match_info["folder"])
    if files is None:
        return web.Response(status=404)
    return web.json_response(files)


async def embeddings(request: web.Request) -> web.Response:
    return web.json_response([])


async def emulator_models(request: web.Request) -> web.Response:
    """Emulator only (a real ComfyUI has no such route): which checkpoints are resident
    and every load paid so far, so benchmarks can count model switches."""
    executor = request.app[STATE].executor
    return web.json_response({"resident": executor.resident, "loads": executor.loads})


def add_routes(routes: web.RouteTableDef, prefix: str) -> None:
    if prefix == "":
        routes.get("/")(index)
        routes.get("/emulator/models")(emulator_models)
    routes.get(f"{prefix}/system_stats")(system_stats)
    routes.get(f"{prefix}/object_info")(object_info)
    routes.get(f"{prefix}/object_info/{{node_class}}")(object_info_class)
    routes.get(f"{prefix}/features")(features)
    routes.get(f"{prefix}/models")(models)
    routes.get(f"{prefix}/models/{{folder}}")(models_in_folder)
    routes.get(f"{prefix}/embeddings")(embeddings)
