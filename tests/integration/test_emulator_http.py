"""The emulator's HTTP answers against the examples in comfyui-protocol.md."""

from __future__ import annotations

import io
import json

import aiohttp
from PIL import Image

from comfyui_emulator import Emulator
from tests.emulator_helpers import post_prompt, three_nodes, wait_history

pytest_plugins = ("tests.emulator_fixtures",)

JSON = "application/json; charset=utf-8"


def png(colour: tuple[int, int, int] = (255, 0, 0), size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_info_endpoints_answer_like_comfyui(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    url = emulator.base_url
    for path in ("/system_stats", "/api/system_stats", "/features", "/api/queue", "/prompt"):
        async with raw_http.get(url + path) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == JSON
            assert response.headers["Server"].startswith("Python/3.11 aiohttp/")
    async with raw_http.get(url + "/system_stats") as response:
        stats = await response.json()
    assert stats["system"]["comfyui_version"] == "0.3.64"
    assert {"name", "type", "index", "vram_total", "vram_free"} <= set(stats["devices"][0])
    async with raw_http.get(url + "/features") as response:
        assert await response.json() == {
            "supports_preview_metadata": True,
            "max_upload_size": 104857600,
        }
    async with raw_http.get(url + "/prompt") as response:
        assert await response.json() == {"exec_info": {"queue_remaining": 0}}
    async with raw_http.get(url + "/models") as response:
        assert "checkpoints" in await response.json()
    async with raw_http.get(url + "/models/checkpoints") as response:
        assert await response.json() == [
            "sd_xl_base_1.0.safetensors",
            "v1-5-pruned-emaonly.safetensors",
        ]
    async with raw_http.get(url + "/models/nope") as response:
        assert response.status == 404
    async with raw_http.get(url + "/embeddings") as response:
        assert await response.json() == []


async def test_object_info_carries_real_specs_and_folder_lists(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    async with raw_http.get(emulator.base_url + "/object_info") as response:
        info = await response.json()
    for name in [
        "CheckpointLoaderSimple",
        "CLIPTextEncode",
        "EmptyLatentImage",
        "KSampler",
        "KSamplerAdvanced",
        "VAEDecode",
        "VAEEncode",
        "SaveImage",
        "PreviewImage",
        "EmptyImage",
        "LoadImage",
        "ImageInvert",
        "ImageScale",
        "ImageScaleBy",
        "ImageToMask",
        "ThresholdMask",
        "InvertMask",
        "JoinImageWithAlpha",
        "LatentUpscale",
        "LatentUpscaleBy",
        "ImageBlur",
        "ImageSharpen",
        "SaveImageWebsocket",
        "PreviewAny",
        "LoraLoader",
        "UpscaleModelLoader",
        "ImageUpscaleWithModel",
        "CLIPSetLastLayer",
        "SolidMask",
    ]:
        assert info[name]["name"] == name
    assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
        "sd_xl_base_1.0.safetensors",
        "v1-5-pruned-emaonly.safetensors",
    ]
    upscale = info["UpscaleModelLoader"]["input"]["required"]["model_name"]
    assert upscale[0] == "COMBO" and "RealESRGAN_x4plus.pth" in upscale[1]["options"]
    assert info["SaveImage"]["input"]["hidden"] == {
        "prompt": "PROMPT",
        "extra_pnginfo": "EXTRA_PNGINFO",
    }
    assert info["EmptyLatentImage"]["input"]["required"]["width"][1]["min"] == 16
    async with raw_http.get(emulator.base_url + "/object_info/ImageInvert") as response:
        assert list(await response.json()) == ["ImageInvert"]
    async with raw_http.get(emulator.base_url + "/object_info/NoSuchNode") as response:
        assert response.status == 200 and await response.json() == {}


async def test_prompt_numbers_count_every_post(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    url = emulator.base_url
    status, first = await post_prompt(raw_http, url, {"prompt": three_nodes()})
    assert status == 200 and first["number"] == 0 and first["node_errors"] == {}
    status, _ = await post_prompt(raw_http, url, {"prompt": {}})
    assert status == 400
    status, third = await post_prompt(raw_http, url, {"prompt": three_nodes()})
    assert third["number"] == 2
    status, given = await post_prompt(raw_http, url, {"prompt": three_nodes(), "number": 42})
    assert given["number"] == 42.0 and isinstance(given["number"], float)
    status, front = await post_prompt(raw_http, url, {"prompt": three_nodes(), "front": True})
    assert front["number"] == -3


async def test_client_prompt_id_is_used_and_may_be_reused(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    url = emulator.base_url
    _, answer = await post_prompt(raw_http, url, {"prompt": three_nodes(), "prompt_id": "my-id"})
    assert answer["prompt_id"] == "my-id"
    first = await wait_history(raw_http, url, "my-id")
    await post_prompt(raw_http, url, {"prompt": three_nodes(color=0x00FF00), "prompt_id": "my-id"})
    for _ in range(200):
        second = await wait_history(raw_http, url, "my-id")
        if second["prompt"][0] != first["prompt"][0]:
            break
    assert second["prompt"][2]["1"]["inputs"]["color"] == 0x00FF00
    assert second["status"]["status_str"] == "success"


async def test_non_json_body_is_a_plain_500(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    async with raw_http.post(emulator.base_url + "/prompt", data="not json") as response:
        assert response.status == 500
        assert response.content_type == "text/plain"
        assert await response.text() == "500 Internal Server Error\n\nServer got itself in trouble"


async def test_origin_must_match_host(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    body = {"prompt": three_nodes()}
    headers = {"Origin": "http://evil.example"}
    async with raw_http.post(emulator.base_url + "/prompt", json=body, headers=headers) as response:
        assert response.status == 403
    same = {"Origin": emulator.base_url}
    async with raw_http.post(emulator.base_url + "/prompt", json=body, headers=same) as response:
        assert response.status == 200


async def test_view_semantics(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    url = emulator.base_url
    _, answer = await post_prompt(raw_http, url, {"prompt": three_nodes()})
    entry = await wait_history(raw_http, url, answer["prompt_id"])
    image = entry["outputs"]["3"]["images"][0]
    assert image == {"filename": "gw_test_00001_.png", "subfolder": "", "type": "output"}
    async with raw_http.get(url + "/view", params={"filename": image["filename"]}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Content-Disposition"] == 'filename="gw_test_00001_.png"'
        assert "ETag" in response.headers and "Last-Modified" in response.headers
        body = await response.read()
    assert body == (emulator.storage.base / "output" / image["filename"]).read_bytes()
    params = {"filename": image["filename"], "type": "output", "preview": "webp;50"}
    async with raw_http.get(url + "/api/view", params=params) as response:
        assert response.headers["Content-Type"] == "image/webp"
    for params, status in (
        ({"filename": "missing.png"}, 404),
        ({}, 404),
        ({"filename": image["filename"], "type": "bogus"}, 400),
        ({"filename": "../x"}, 400),
        ({"filename": image["filename"], "subfolder": "../.."}, 403),
    ):
        async with raw_http.get(url + "/view", params=params) as response:
            assert response.status == status, params
            if status == 404:
                assert await response.read() == b""


async def test_upload_naming_rules(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    async def upload(data: bytes, name: str = "gw_upload.png", **fields: str) -> tuple[int, str]:
        form = aiohttp.FormData()
        form.add_field("image", data, filename=name, content_type="image/png")
        for key, value in fields.items():
            form.add_field(key, value)
        async with raw_http.post(emulator.base_url + "/upload/image", data=form) as response:
            return response.status, await response.text()

    status, text = await upload(png())
    assert status == 200 and json.loads(text) == {
        "name": "gw_upload.png",
        "subfolder": "",
        "type": "input",
    }
    assert json.loads((await upload(png()))[1])["name"] == "gw_upload.png"
    assert json.loads((await upload(png((0, 0, 255))))[1])["name"] == "gw_upload (1).png"
    assert (
        json.loads((await upload(png((0, 0, 255)), overwrite="true"))[1])["name"] == "gw_upload.png"
    )
    status, text = await upload(png(), subfolder="sub")
    assert json.loads(text) == {"name": "gw_upload.png", "subfolder": "sub", "type": "input"}
    assert (await upload(png(), subfolder="../.."))[0] == 400
    form = aiohttp.FormData()
    form.add_field("type", "input")
    async with raw_http.post(emulator.base_url + "/upload/image", data=form) as response:
        assert response.status == 400 and await response.read() == b""
    ref = json.dumps({"filename": "gw_upload.png", "subfolder": "", "type": "input"})
    mask = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(mask, format="PNG")
    form = aiohttp.FormData()
    form.add_field("image", mask.getvalue(), filename="mask.png", content_type="image/png")
    form.add_field("original_ref", ref)
    async with raw_http.post(emulator.base_url + "/upload/mask", data=form) as response:
        assert response.status == 200
        assert await response.json() == {"name": "mask.png", "subfolder": "", "type": "input"}


async def test_queue_items_and_delete(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    from tests.emulator_helpers import txt2img

    url = emulator.base_url
    _, running = await post_prompt(
        raw_http, url, {"prompt": txt2img(steps=2000), "client_id": "c1"}
    )
    _, pending = await post_prompt(raw_http, url, {"prompt": three_nodes()})
    _, other = await post_prompt(raw_http, url, {"prompt": three_nodes(color=1)})
    async with raw_http.get(url + "/queue") as response:
        queue = await response.json()
    assert [item[1] for item in queue["queue_running"]] == [running["prompt_id"]]
    item = queue["queue_running"][0]
    assert len(item) == 5 and item[3] == {"client_id": "c1"} and item[4] == ["9"]
    assert {item[1] for item in queue["queue_pending"]} == {
        pending["prompt_id"],
        other["prompt_id"],
    }
    assert next(i for i in queue["queue_pending"] if i[1] == pending["prompt_id"])[3] == {}
    async with raw_http.get(url + "/prompt") as response:
        assert await response.json() == {"exec_info": {"queue_remaining": 3}}
    async with raw_http.post(
        url + "/queue", json={"delete": [pending["prompt_id"], "unknown"]}
    ) as response:
        assert response.status == 200 and await response.read() == b""
        assert (
            "Content-Type" not in response.headers
            or response.content_type == "application/octet-stream"
        )
    async with raw_http.post(url + "/queue", json={"delete": [running["prompt_id"]]}) as response:
        assert response.status == 200
    async with raw_http.get(url + "/queue") as response:
        queue = await response.json()
    assert [item[1] for item in queue["queue_pending"]] == [other["prompt_id"]]
    assert [item[1] for item in queue["queue_running"]] == [running["prompt_id"]]
    async with raw_http.post(url + "/queue", json={"clear": True}) as response:
        assert response.status == 200
    async with raw_http.post(url + "/interrupt", json={"prompt_id": "not-running"}) as response:
        assert response.status == 200
    async with raw_http.get(url + "/queue") as response:
        assert [item[1] for item in (await response.json())["queue_running"]] == [
            running["prompt_id"]
        ]
    async with raw_http.post(url + "/interrupt") as response:
        assert response.status == 200
    entry = await wait_history(raw_http, url, running["prompt_id"])
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


async def test_history_paging_and_deletion(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    url = emulator.base_url
    ids = []
    for colour in range(4):
        _, answer = await post_prompt(raw_http, url, {"prompt": three_nodes(color=colour)})
        ids.append(answer["prompt_id"])
    for prompt_id in ids:
        await wait_history(raw_http, url, prompt_id)
    async with raw_http.get(url + "/history") as response:
        assert list(await response.json()) == ids
    async with raw_http.get(url + "/history", params={"max_items": "2"}) as response:
        assert list(await response.json()) == ids[2:]
    async with raw_http.get(url + "/history", params={"max_items": "2", "offset": "1"}) as response:
        assert list(await response.json()) == ids[1:3]
    async with raw_http.get(url + "/history/unknown") as response:
        assert response.status == 200 and await response.json() == {}
    entry = (await (await raw_http.get(f"{url}/history/{ids[0]}")).json())[ids[0]]
    assert entry["prompt"][3] == {}
    assert entry["meta"] == {
        "3": {"node_id": "3", "display_node": "3", "parent_node": None, "real_node_id": "3"}
    }
    assert [m[0] for m in entry["status"]["messages"]] == [
        "execution_start",
        "execution_cached",
        "execution_success",
    ]
    async with raw_http.post(url + "/history", json={"delete": [ids[0]]}) as response:
        assert response.status == 200
    async with raw_http.get(url + "/history") as response:
        assert list(await response.json()) == ids[1:]
    async with raw_http.post(url + "/history", json={"clear": True}) as response:
        assert response.status == 200
    async with raw_http.get(url + "/history") as response:
        assert await response.json() == {}
    async with raw_http.post(
        url + "/free", json={"unload_models": True, "free_memory": True}
    ) as response:
        assert response.status == 200
