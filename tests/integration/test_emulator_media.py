"""The emulator's media side against comfyui-protocol.md ("Uploads and image inputs"):
upload naming and statuses, mask uploads, LoadImage / LoadImageMask values, validation of
missing files, and the bundled media workflows run directly (POST /prompt, no gateway)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image, ImageChops, ImageStat, PngImagePlugin

from comfyui_emulator import Emulator
from tests.emulator_helpers import WsRecorder, emulator_config, post_prompt, wait_history
from tests.media_workflows import render_defaults

pytest_plugins = ("tests.emulator_fixtures",)


def encode(image: Image.Image, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def photo(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A picture with structure, so that changes show: a gradient and a block."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste((200, 30, 30), (10, 10, 40, 30))
    return image


BOUNDARY = "emulatorTestBoundary7MA4YWxkTrZu0gW"


def multipart(data: bytes | str, name: str | None, fields: dict[str, str]) -> bytes:
    """A form as a browser sends it: file names raw (aiohttp's FormData would
    percent-encode ``/``, spaces and brackets, and ComfyUI stores such names literally)."""
    raw = data.encode() if isinstance(data, str) else data
    filename = "" if name is None else f'; filename="{name}"'
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"{filename}\r\n'.encode()
        + (b"Content-Type: image/png\r\n" if name is not None else b"")
        + b"\r\n"
        + raw
        + b"\r\n"
    ]
    for key, value in fields.items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def upload(
    http: aiohttp.ClientSession,
    emulator: Emulator,
    data: bytes | str,
    name: str | None = "x.png",
    route: str = "/upload/image",
    **fields: str,
) -> tuple[int, Any]:
    async with http.post(
        emulator.base_url + route,
        data=multipart(data, name, fields),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    ) as response:
        body = await response.read()
        if response.content_type == "application/json":
            return response.status, json.loads(body)
        return response.status, body


async def run(http: aiohttp.ClientSession, emulator: Emulator, graph: dict[str, Any]) -> Any:
    status, answer = await post_prompt(http, emulator.base_url, {"prompt": graph})
    assert status == 200, answer
    return await wait_history(http, emulator.base_url, answer["prompt_id"])


async def output(
    http: aiohttp.ClientSession, emulator: Emulator, entry: dict[str, Any], node: str
) -> Image.Image:
    assert entry["status"]["status_str"] == "success", entry["status"]
    image = entry["outputs"][node]["images"][0]
    async with http.get(emulator.base_url + "/view", params=image) as response:
        assert response.status == 200
        picture = Image.open(io.BytesIO(await response.read()))
        picture.load()
        return picture


def mask_graph(loader: dict[str, Any], slot: int) -> dict[str, Any]:
    """loader → (its MASK) → MaskToImage → SaveImage, to read a MASK as pixels."""
    return {
        "1": loader,
        "2": {"class_type": "MaskToImage", "inputs": {"mask": ["1", slot]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "m"}},
    }


async def test_root_answers_html(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    async with raw_http.get(emulator.base_url + "/") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html"
        assert response.headers["Cache-Control"] == "no-cache"
        assert (await response.text()).startswith("<!DOCTYPE html>")


async def test_upload_statuses_and_folders(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    data = encode(photo())
    for kind in ("temp", "output"):
        status, answer = await upload(raw_http, emulator, data, type=kind, subfolder="a/b/c")
        assert (status, answer) == (200, {"name": "x.png", "subfolder": "a/b/c", "type": kind})
        assert (emulator.storage.base / kind / "a/b/c/x.png").read_bytes() == data
    assert (await upload(raw_http, emulator, data, type="bogus"))[0] == 500
    assert (await upload(raw_http, emulator, "just text", name=None))[0] == 500
    assert (await upload(raw_http, emulator, data, name="../x.png"))[0] == 400
    assert (await upload(raw_http, emulator, data, name=""))[0] == 500
    # aiohttp drops the leading "/": tmp/abs.png, whose folder does not exist
    assert (await upload(raw_http, emulator, data, name="/tmp/abs.png"))[0] == 500
    await upload(raw_http, emulator, data, subfolder="sub")
    status, answer = await upload(raw_http, emulator, data, name="sub/y.png")
    assert (status, answer) == (200, {"name": "sub/y.png", "subfolder": "", "type": "input"})
    assert (await upload(raw_http, emulator, data, subfolder="../.."))[0] == 400
    async with raw_http.post(emulator.base_url + "/upload/image", json={"a": 1}) as response:
        assert response.status == 400 and await response.read() == b""
    status, answer = await upload(raw_http, emulator, b"not a picture", name="notes.txt")
    assert status == 200 and answer["name"] == "notes.txt"  # bytes stored unchecked
    status, answer = await upload(raw_http, emulator, data, subfolder="./sub/")
    assert answer["subfolder"] == "./sub/"  # echoed as sent


async def test_upload_renaming_chain(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    first, second, third = (encode(Image.new("RGB", (4, 4), (c, 0, 0))) for c in (1, 2, 3))
    names = [(await upload(raw_http, emulator, data))[1]["name"] for data in (first, second)]
    names.append((await upload(raw_http, emulator, third))[1]["name"])
    names.append((await upload(raw_http, emulator, second))[1]["name"])  # finds its copy
    assert names == ["x.png", "x (1).png", "x (2).png", "x (1).png"]
    _, answer = await upload(raw_http, emulator, first, overwrite="1", name="x (2).png")
    assert answer["name"] == "x (2).png"
    assert (emulator.storage.base / "input" / "x (2).png").read_bytes() == first
    await upload(raw_http, emulator, first, name="plain")
    assert (await upload(raw_http, emulator, second, name="plain"))[1]["name"] == "plain (1)"


async def test_mask_upload_puts_the_mask_alpha_into_the_original(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", "kept")
    original = photo((32, 32))
    await upload(raw_http, emulator, encode(original, pnginfo=info), name="orig.png")
    painted = Image.new("RGBA", (32, 32), (9, 9, 9, 255))
    painted.paste((0, 0, 0, 0), (8, 8, 24, 24))  # the editor stores alpha 0 where painted
    ref = json.dumps({"filename": "orig.png", "type": "input"})
    fields = {"original_ref": ref, "type": "input", "subfolder": "clipspace"}
    status, answer = await upload(
        raw_http, emulator, encode(painted), name="mask.png", route="/upload/mask", **fields
    )
    assert (status, answer) == (
        200,
        {"name": "mask.png", "subfolder": "clipspace", "type": "input"},
    )
    with Image.open(emulator.storage.base / "input/clipspace/mask.png") as stored:
        assert stored.mode == "RGBA" and stored.info["prompt"] == "kept"
        assert stored.convert("RGB").tobytes() == original.tobytes()
        assert stored.getchannel("A").tobytes() == painted.getchannel("A").tobytes()
    again = await upload(
        raw_http, emulator, encode(painted), name="mask.png", route="/upload/mask", **fields
    )
    assert again[1]["name"] == "mask (1).png"  # the stored file is the merge, never a match
    # original_ref's type defaults to output: not found there, 200 and nothing written
    missing = {"original_ref": json.dumps({"filename": "orig.png"})}
    status, answer = await upload(
        raw_http, emulator, encode(painted), name="lost.png", route="/upload/mask", **missing
    )
    assert status == 200 and answer["name"] == "lost.png"
    async with raw_http.get(
        emulator.base_url + "/view", params={"filename": "lost.png", "type": "input"}
    ) as response:
        assert response.status == 404
    assert (await upload(raw_http, emulator, encode(painted), name="m2.png", route="/upload/mask"))[
        0
    ] == 500
    small = encode(Image.new("RGBA", (8, 8)))
    assert (
        await upload(
            raw_http, emulator, small, name="m3.png", route="/upload/mask", original_ref=ref
        )
    )[0] == 500


async def test_loaders_give_comfyui_masks(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(255, 0, 0, 255), (0, 255, 0, 0), (0, 0, 255, 128)])
    await upload(raw_http, emulator, encode(rgba), name="rgba.png")
    await upload(raw_http, emulator, encode(photo((24, 16))), name="rgb.png")

    def load(name: str) -> dict[str, Any]:
        return {"class_type": "LoadImage", "inputs": {"image": name}}

    def load_mask(name: str, channel: str) -> dict[str, Any]:
        return {"class_type": "LoadImageMask", "inputs": {"image": name, "channel": channel}}

    mask = await output(
        raw_http, emulator, await run(raw_http, emulator, mask_graph(load("rgba.png"), 1)), "3"
    )
    assert list(mask.getchannel(0).tobytes()) == [0, 255, 127]  # 1 - alpha
    for channel, expected in (
        ("alpha", [0, 255, 127]),
        ("red", [255, 0, 0]),
        ("blue", [0, 0, 255]),
    ):
        entry = await run(raw_http, emulator, mask_graph(load_mask("rgba.png", channel), 0))
        assert (
            list((await output(raw_http, emulator, entry, "3")).getchannel(0).tobytes()) == expected
        )
    no_alpha = await output(
        raw_http, emulator, await run(raw_http, emulator, mask_graph(load("rgb.png"), 1)), "3"
    )
    assert no_alpha.size == (64, 64) and no_alpha.getextrema() == ((0, 0),) * 3
    entry = await run(raw_http, emulator, mask_graph(load_mask("rgb.png", "alpha"), 0))
    sized = await output(raw_http, emulator, entry, "3")
    assert sized.size == (24, 16) and sized.getextrema() == ((0, 0),) * 3
    graph = {
        "1": load("rgba.png"),
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "rgb"}},
    }
    image = await output(raw_http, emulator, await run(raw_http, emulator, graph), "2")
    assert image.mode == "RGB" and image.tobytes() == bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])


async def test_missing_and_broken_files(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    graph = mask_graph(
        {"class_type": "LoadImageMask", "inputs": {"image": "nope.png", "channel": "alpha"}}, 0
    )
    status, answer = await post_prompt(raw_http, emulator.base_url, {"prompt": graph})
    assert status == 400 and answer["error"]["type"] == "prompt_outputs_failed_validation"
    assert answer["node_errors"]["1"] == {
        "errors": [
            {
                "type": "custom_validation_failed",
                "message": "Custom validation failed for node",
                "details": "image - Invalid image file: nope.png",
                "extra_info": {"input_name": "image"},
            }
        ],
        "dependent_outputs": ["3"],
        "class_type": "LoadImageMask",
    }
    await upload(raw_http, emulator, b"plain text", name="fake.png")
    graph["1"]["inputs"] = {"image": "fake.png", "channel": "green-ish"}
    status, answer = await post_prompt(raw_http, emulator.base_url, {"prompt": graph})
    assert answer["node_errors"]["1"]["errors"][0]["type"] == "value_not_in_list"
    graph["1"] = {"class_type": "LoadImage", "inputs": {"image": "fake.png"}}
    graph["2"]["inputs"]["mask"] = ["1", 1]
    entry = await run(raw_http, emulator, graph)  # passes validation, fails in the node
    event, error = entry["status"]["messages"][-1]
    assert event == "execution_error" and error["node_type"] == "LoadImage"
    assert error["exception_type"] == "PIL.UnidentifiedImageError"
    async with raw_http.get(emulator.base_url + "/object_info/LoadImageMask") as response:
        listed = (await response.json())["LoadImageMask"]["input"]["required"]["image"][0]
    async with raw_http.get(emulator.base_url + "/object_info/LoadImage") as response:
        images = (await response.json())["LoadImage"]["input"]["required"]["image"][0]
    await upload(raw_http, emulator, b"x", name="notes.txt")
    async with raw_http.get(emulator.base_url + "/object_info/LoadImageMask") as response:
        assert (
            "notes.txt" in (await response.json())["LoadImageMask"]["input"]["required"]["image"][0]
        )
    assert listed == images == ["fake.png"]


async def test_new_bytes_under_the_same_name_run_again(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    await upload(raw_http, emulator, encode(photo()), name="p.png")
    graph = mask_graph({"class_type": "LoadImage", "inputs": {"image": "p.png"}}, 1)
    await run(raw_http, emulator, graph)
    await upload(raw_http, emulator, encode(photo((8, 8))), name="p.png", overwrite="true")
    entry = await run(raw_http, emulator, graph)
    cached = entry["status"]["messages"][1]
    assert cached[0] == "execution_cached" and cached[1]["nodes"] == []


# -- the bundled media workflows, straight on the emulator ----------------------------


async def test_img2img_keeps_the_size_and_denoise_decides(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    source = photo((96, 64))
    await upload(raw_http, emulator, encode(source), name="in.png")
    pictures = {}
    for denoise in (0.0, 0.5, 1.0):
        graph = render_defaults(
            "img2img_v1", prompt="a fox", image="in.png", denoise=denoise, steps=2
        )
        pictures[denoise] = await output(
            raw_http, emulator, await run(raw_http, emulator, graph), "9"
        )
    assert {p.size for p in pictures.values()} == {(96, 64)}

    def distance(picture: Image.Image) -> float:
        diff = ImageChops.difference(picture.convert("RGB"), source)
        return sum(ImageStat.Stat(diff).mean)

    assert distance(pictures[0.0]) == 0  # denoise 0 keeps the input
    assert 0 < distance(pictures[0.5]) < distance(pictures[1.0])
    await upload(raw_http, emulator, encode(photo((101, 67))), name="odd.png")
    graph = render_defaults("img2img_v1", prompt="a fox", image="odd.png", denoise=0.0, steps=1)
    cropped = await output(raw_http, emulator, await run(raw_http, emulator, graph), "9")
    # VAEEncode crops to multiples of 8, centred (vae_encode_crop_pixels)
    assert cropped.tobytes() == photo((101, 67)).crop((2, 1, 98, 65)).tobytes()


async def test_inpaint_changes_only_the_masked_area(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    source = photo((64, 64))
    mask = Image.new("RGB", (32, 32), (0, 0, 0))
    mask.paste((255, 255, 255), (8, 8, 24, 24))  # any size: stretched over the image
    await upload(raw_http, emulator, encode(source), name="in.png")
    await upload(raw_http, emulator, encode(mask), name="mask.png")
    graph = render_defaults("inpaint_v1", prompt="a hole", image="in.png", mask="mask.png", steps=2)
    result = (await output(raw_http, emulator, await run(raw_http, emulator, graph), "9")).convert(
        "RGB"
    )
    assert result.size == (64, 64)
    outside, inside = (0, 0, 64, 12), (20, 20, 44, 44)
    assert result.crop(outside).tobytes() == source.crop(outside).tobytes()
    assert result.crop(inside).tobytes() != source.crop(inside).tobytes()


@pytest.mark.parametrize(
    ("workflow_id", "inputs", "size"),
    [
        ("upscale_v1", {}, (192, 128)),
        ("upscale_v1", {"scale_by": 0.5, "upscale_method": "area"}, (48, 32)),
        ("upscale_model_v1", {}, (384, 256)),
        ("upscale_model_v1", {"upscale_model": "RealESRGAN_x2plus.pth", "scale_by": 0.5}, (96, 64)),
    ],
)
async def test_upscale_workflows(
    emulator: Emulator,
    raw_http: aiohttp.ClientSession,
    workflow_id: str,
    inputs: dict[str, Any],
    size: tuple[int, int],
) -> None:
    await upload(raw_http, emulator, encode(photo((96, 64))), name="in.png")
    graph = render_defaults(workflow_id, image="in.png", **inputs)
    assert (
        await output(raw_http, emulator, await run(raw_http, emulator, graph), "9")
    ).size == size


async def test_upscale_model_must_be_installed(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    await upload(raw_http, emulator, encode(photo()), name="in.png")
    graph = render_defaults("upscale_model_v1", image="in.png", upscale_model="8x_missing.pth")
    status, answer = await post_prompt(raw_http, emulator.base_url, {"prompt": graph})
    assert status == 400
    assert answer["node_errors"]["5"]["errors"][0]["type"] == "value_not_in_list"


async def test_vae_encode_for_inpaint_crops_greys_and_grows(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    source = photo((100, 60))  # sides not multiples of 8: cropped, centred, to 96x56
    mask = Image.new("RGBA", (100, 60), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (40, 20, 60, 40))  # transparent = repaint (alpha channel)
    await upload(raw_http, emulator, encode(source), name="in.png")
    await upload(raw_http, emulator, encode(mask), name="m.png")
    graph = render_defaults("inpaint_v1", prompt="x", image="in.png", mask="m.png", steps=1)
    graph["2"]["inputs"]["channel"] = "alpha"
    graph["11"] = {
        "class_type": "VAEEncodeForInpaint",
        "inputs": {"pixels": ["1", 0], "vae": ["4", 2], "mask": ["2", 0], "grow_mask_by": 6},
    }
    graph["3"]["inputs"]["latent_image"] = ["11", 0]
    del graph["10"]
    result = (await output(raw_http, emulator, await run(raw_http, emulator, graph), "9")).convert(
        "RGB"
    )
    assert result.size == (96, 56)
    kept = source.crop((2, 2, 98, 58))
    assert result.crop((0, 0, 96, 10)).tobytes() == kept.crop((0, 0, 96, 10)).tobytes()
    assert result.crop((38, 18, 58, 38)).tobytes() != kept.crop((38, 18, 58, 38)).tobytes()
    # grown by 6: a band just outside the painted square is repainted too
    assert result.crop((36, 16, 38, 40)).tobytes() != kept.crop((36, 16, 38, 40)).tobytes()


async def test_img2img_previews_start_from_the_input(
    tmp_path: Path, raw_http: aiohttp.ClientSession
) -> None:
    config = emulator_config(base_dir=tmp_path, preview_method="latent2rgb")
    async with Emulator(config) as server:
        await upload(raw_http, server, encode(photo((64, 64))), name="in.png")
        ws = await WsRecorder.connect(raw_http, server.base_url, "P")
        graph = render_defaults("img2img_v1", prompt="x", image="in.png", steps=2)
        _, answer = await post_prompt(
            raw_http, server.base_url, {"prompt": graph, "client_id": "P"}
        )
        await ws.until_idle(answer["prompt_id"])
        assert len(ws.binary) == 2 and all(frame[8:11] == b"\xff\xd8\xff" for frame in ws.binary)
        await ws.close()


async def test_load_image_stacks_frames_into_a_batch(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    frames = [Image.new("RGB", (16, 8), (c, c, c)) for c in (10, 120, 240)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    await upload(raw_http, emulator, buffer.getvalue(), name="anim.gif")
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "anim.gif"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "f"}},
    }
    entry = await run(raw_http, emulator, graph)
    assert len(entry["outputs"]["2"]["images"]) == 3
    async with raw_http.get(emulator.base_url + "/object_info/LoadImage") as response:
        assert (await response.json())["LoadImage"]["input"]["required"]["image"][0] == ["anim.gif"]
