"""The emulator executes graphs for real: sizes, batches, seeds, alpha, files, failures."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from comfyui_emulator import Emulator, EmulatorConfig, FailureKind, FailurePlan
from tests.emulator_helpers import (
    WsRecorder,
    emulator_config,
    fail,
    post_prompt,
    three_nodes,
    txt2img,
    wait_history,
)
from tests.ports import free_port

pytest_plugins = ("tests.emulator_fixtures",)


async def run(
    raw_http: aiohttp.ClientSession, emulator: Emulator, graph: dict[str, Any]
) -> dict[str, Any]:
    status, answer = await post_prompt(raw_http, emulator.base_url, {"prompt": graph})
    assert status == 200, answer
    entry = await wait_history(raw_http, emulator.base_url, answer["prompt_id"])
    assert entry["status"]["status_str"] == "success", entry["status"]
    return entry


def output_image(emulator: Emulator, image: dict[str, str]) -> Image.Image:
    path = emulator.storage.base / image["type"] / image["subfolder"] / image["filename"]
    with Image.open(path) as opened:
        opened.load()
        return opened.copy()


async def test_txt2img_size_batch_and_seed(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    entry = await run(raw_http, emulator, txt2img(width=64, height=48, batch=2, seed=1))
    images = entry["outputs"]["9"]["images"]
    assert [i["filename"] for i in images] == ["gw_test_00001_.png", "gw_test_00002_.png"]
    first, second = (output_image(emulator, image) for image in images)
    assert first.size == (64, 48) and first.mode == "RGB"
    assert first.tobytes() != second.tobytes()  # batch items differ
    again = output_image(
        emulator,
        (await run(raw_http, emulator, txt2img(width=64, height=48, batch=2, seed=1)))["outputs"][
            "9"
        ]["images"][0],
    )
    assert again.tobytes() == first.tobytes()  # same seed, same picture
    other = output_image(
        emulator,
        (await run(raw_http, emulator, txt2img(width=64, height=48, seed=2)))["outputs"]["9"][
            "images"
        ][0],
    )
    assert other.tobytes() != first.tobytes()
    assert "prompt" in Image.open(emulator.storage.base / "output" / "gw_test_00001_.png").info


async def test_size_changing_nodes(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = txt2img(width=64, height=64)
    graph["10"] = {
        "class_type": "LatentUpscaleBy",
        "inputs": {"samples": ["3", 0], "upscale_method": "nearest-exact", "scale_by": 1.5},
    }
    graph["8"]["inputs"]["samples"] = ["10", 0]
    graph["11"] = {
        "class_type": "ImageScaleBy",
        "inputs": {"image": ["8", 0], "upscale_method": "bilinear", "scale_by": 0.5},
    }
    graph["12"] = {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["8", 0],
            "upscale_method": "area",
            "width": 40,
            "height": 0,
            "crop": "disabled",
        },
    }
    graph["13"] = {
        "class_type": "UpscaleModelLoader",
        "inputs": {"model_name": "RealESRGAN_x2plus.pth"},
    }
    graph["14"] = {
        "class_type": "ImageUpscaleWithModel",
        "inputs": {"upscale_model": ["13", 0], "image": ["8", 0]},
    }
    graph["9"]["inputs"]["images"] = ["11", 0]
    graph["15"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["12", 0], "filename_prefix": "scaled"},
    }
    graph["16"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["14", 0], "filename_prefix": "sub/model"},
    }
    entry = await run(raw_http, emulator, graph)
    assert output_image(emulator, entry["outputs"]["9"]["images"][0]).size == (48, 48)
    assert output_image(emulator, entry["outputs"]["15"]["images"][0]).size == (40, 40)
    upscaled = entry["outputs"]["16"]["images"][0]
    assert upscaled["subfolder"] == "sub" and upscaled["filename"] == "model_00001_.png"
    assert output_image(emulator, upscaled).size == (192, 192)


async def test_invert_and_transparency(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    entry = await run(raw_http, emulator, three_nodes(color=0xFF0000))
    assert output_image(emulator, entry["outputs"]["3"]["images"][0]).getpixel((0, 0)) == (
        0,
        255,
        255,
    )
    graph = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0xFF0000},
        },
        "2": {"class_type": "ImageToMask", "inputs": {"image": ["1", 0], "channel": "red"}},
        "3": {"class_type": "ThresholdMask", "inputs": {"mask": ["2", 0], "value": 0.5}},
        "4": {"class_type": "InvertMask", "inputs": {"mask": ["3", 0]}},
        "5": {"class_type": "JoinImageWithAlpha", "inputs": {"image": ["1", 0], "alpha": ["4", 0]}},
        "6": {
            "class_type": "SaveImage",
            "inputs": {"images": ["5", 0], "filename_prefix": "alpha"},
        },
        "7": {"class_type": "JoinImageWithAlpha", "inputs": {"image": ["1", 0], "alpha": ["3", 0]}},
        "8": {
            "class_type": "SaveImage",
            "inputs": {"images": ["7", 0], "filename_prefix": "clear"},
        },
    }
    entry = await run(raw_http, emulator, graph)
    opaque = output_image(emulator, entry["outputs"]["6"]["images"][0])
    assert opaque.mode == "RGBA" and opaque.getpixel((0, 0)) == (255, 0, 0, 255)
    clear = output_image(emulator, entry["outputs"]["8"]["images"][0])
    assert clear.getchannel("A").getextrema() == (0, 0)


async def test_sprite_background_becomes_transparent(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    graph = txt2img(width=64, height=64)
    graph["10"] = {"class_type": "ImageToMask", "inputs": {"image": ["8", 0], "channel": "green"}}
    graph["11"] = {"class_type": "ThresholdMask", "inputs": {"mask": ["10", 0], "value": 0.85}}
    graph["12"] = {
        "class_type": "JoinImageWithAlpha",
        "inputs": {"image": ["8", 0], "alpha": ["11", 0]},
    }
    graph["9"]["inputs"]["images"] = ["12", 0]
    image = output_image(
        emulator, (await run(raw_http, emulator, graph))["outputs"]["9"]["images"][0]
    )
    alphas = {value for _count, value in image.getchannel("A").getcolors() or []}
    assert alphas == {0, 255}  # light background cut out, dark shapes kept


async def test_load_image_reads_uploads(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (10, 20, 30)).save(buffer, format="PNG")
    for subfolder in ("", "sub"):
        form = aiohttp.FormData()
        form.add_field("image", buffer.getvalue(), filename="b.png")
        form.add_field("subfolder", subfolder)
        async with raw_http.post(emulator.base_url + "/upload/image", data=form) as response:
            assert response.status == 200
    for name in ("b.png", "sub/b.png", "sub/b.png [input]"):
        graph = {
            "1": {"class_type": "LoadImage", "inputs": {"image": name}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
        }
        preview = (await run(raw_http, emulator, graph))["outputs"]["3"]["images"][0]
        assert preview["type"] == "temp" and preview["filename"].startswith("ComfyUI_temp_")
        assert preview["filename"].endswith("_00001_.png")
        assert output_image(emulator, preview).getpixel((0, 0)) == (245, 235, 225)
    async with raw_http.get(emulator.base_url + "/object_info/LoadImage") as response:
        assert (await response.json())["LoadImage"]["input"]["required"]["image"][0] == ["b.png"]


async def test_preview_any_text(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = {"1": {"class_type": "PreviewAny", "inputs": {"source": "hel"}}}
    assert (await run(raw_http, emulator, graph))["outputs"] == {"1": {"text": ["hel"]}}


@pytest.mark.parametrize(
    ("kind", "exception_type", "phrase"),
    [
        ("oom", "torch.OutOfMemoryError", "CUDA out of memory"),
        ("node_error", "RuntimeError", "mat1"),
    ],
)
async def test_injected_errors(
    emulator: Emulator, raw_http: aiohttp.ClientSession, kind: str, exception_type: str, phrase: str
) -> None:
    body = {"prompt": txt2img(), "extra_data": fail(kind, at_node="8")}
    _, answer = await post_prompt(raw_http, emulator.base_url, body)
    entry = await wait_history(raw_http, emulator.base_url, answer["prompt_id"])
    event, error = entry["status"]["messages"][-1]
    assert (
        event == "execution_error" and error["node_id"] == "8" and error["node_type"] == "VAEDecode"
    )
    assert error["exception_type"] == exception_type and phrase in error["exception_message"]
    assert entry["prompt"][3]["emulator"]["fail"] == kind  # extra_data stored as given


async def test_crash_in_process_refuses_connections(
    tmp_path: Path, raw_http: aiohttp.ClientSession
) -> None:
    async with Emulator(emulator_config(base_dir=tmp_path)) as server:
        ws = await WsRecorder.connect(raw_http, server.base_url, "X")
        body = {
            "prompt": txt2img(steps=5),
            "client_id": "X",
            "extra_data": fail("crash", at_step=2),
        }
        await post_prompt(raw_http, server.base_url, body)
        with pytest.raises(ConnectionError):
            while True:
                await ws.next()
        assert ws.ws.close_code != 1000
        with pytest.raises(aiohttp.ClientConnectorError):
            await raw_http.get(server.base_url + "/queue")


async def test_startup_delay_refuses_then_serves(
    tmp_path: Path, raw_http: aiohttp.ClientSession
) -> None:
    server = Emulator(emulator_config(base_dir=tmp_path, startup_delay_ms=300), port=free_port())
    await server.start()
    try:
        with pytest.raises(aiohttp.ClientConnectorError):
            await raw_http.get(server.base_url + "/system_stats")
        await server.wait_ready()
        async with raw_http.get(server.base_url + "/system_stats") as response:
            assert response.status == 200
    finally:
        await server.stop()


def test_config_from_env(tmp_path: Path) -> None:
    env = {
        "COMFYUI_EMULATOR_STEP_MS": "7",
        "COMFYUI_EMULATOR_STARTUP_DELAY_MS": "100",
        "COMFYUI_EMULATOR_CHECKPOINTS": "a.safetensors, b.safetensors",
        "COMFYUI_EMULATOR_FAIL": "oom@3:2",
        "COMFYUI_EMULATOR_DIR": str(tmp_path),
    }
    config = EmulatorConfig.from_env(env)
    assert config.step_ms == 7 and config.startup_delay_ms == 100
    assert config.checkpoints == ("a.safetensors", "b.safetensors")
    assert config.fail == FailurePlan(FailureKind.OOM, "3", 2)
    assert FailurePlan.parse_env('{"fail": "crash"}') == FailurePlan(FailureKind.CRASH)
    with pytest.raises(ValueError, match="COMFYUI_EMULATOR_STEP_MS"):
        EmulatorConfig.from_env({"COMFYUI_EMULATOR_STEP_MS": "fast"})
    with pytest.raises(ValueError, match="COMFYUI_EMULATOR_FAIL"):
        EmulatorConfig.from_env({"COMFYUI_EMULATOR_FAIL": "explode"})
    assert os.fspath(config.base_dir or "") == str(tmp_path)


async def test_global_failure_from_config(tmp_path: Path, raw_http: aiohttp.ClientSession) -> None:
    config = emulator_config(base_dir=tmp_path, fail=FailurePlan(FailureKind.OOM))
    async with Emulator(config) as server:
        _, answer = await post_prompt(raw_http, server.base_url, {"prompt": txt2img()})
        entry = await wait_history(raw_http, server.base_url, answer["prompt_id"])
        assert entry["status"]["messages"][-1][1]["node_type"] == "KSampler"
