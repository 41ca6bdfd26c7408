"""Checkpoint residency and LOAD_MS, as ComfyUI 0.3.64 behaves by default.

ComfyUI's default (classic) cache keeps only the outputs of the last prompt, and a model
stays in memory while something still refers to it, so a checkpoint stays loaded while
consecutive prompts use it and is freed once a prompt does not. ``/free`` flags are
applied by the prompt worker after the running prompt: ``unload_models`` takes models
out of VRAM (the cached loader output stays, the sampler loads it back),
``free_memory`` also empties the cache.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp

from comfyui_emulator import Emulator
from tests.emulator_helpers import (
    WsRecorder,
    emulator_config,
    post_prompt,
    three_nodes,
    txt2img,
    wait_history,
)

pytest_plugins = ("tests.emulator_fixtures",)
SD15 = "v1-5-pruned-emaonly.safetensors"
SDXL = "sd_xl_base_1.0.safetensors"


async def run(
    http: aiohttp.ClientSession, emulator: Emulator, body: dict[str, object]
) -> dict[str, Any]:
    status, answer = await post_prompt(http, emulator.base_url, body)
    assert status == 200, answer
    entry = await wait_history(http, emulator.base_url, answer["prompt_id"], timeout_s=30)
    assert entry["status"]["status_str"] == "success"
    return entry


async def free(http: aiohttp.ClientSession, emulator: Emulator, **flags: bool) -> None:
    async with http.post(emulator.base_url + "/free", json=flags) as response:
        assert response.status == 200 and await response.read() == b""


async def test_a_checkpoint_stays_loaded_while_prompts_use_it(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    executor = emulator.state.executor
    await run(raw_http, emulator, {"prompt": txt2img(ckpt=SD15, seed=1)})
    await run(raw_http, emulator, {"prompt": txt2img(ckpt=SD15, seed=2)})
    assert executor.loads == [SD15] and executor.resident == [SD15]
    await run(raw_http, emulator, {"prompt": txt2img(ckpt=SDXL)})
    assert executor.loads == [SD15, SDXL] and executor.resident == [SDXL]
    await run(raw_http, emulator, {"prompt": txt2img(ckpt=SD15, seed=3)})
    assert executor.loads == [SD15, SDXL, SD15]  # only the last prompt's models are kept
    await run(raw_http, emulator, {"prompt": three_nodes()})
    assert executor.resident == []  # a prompt without it frees it
    await run(raw_http, emulator, {"prompt": txt2img(ckpt=SD15, seed=4)})
    assert executor.loads == [SD15, SDXL, SD15, SD15]
    async with raw_http.get(emulator.base_url + "/emulator/models") as response:
        assert await response.json() == {"resident": [SD15], "loads": [SD15, SDXL, SD15, SD15]}


async def test_free_unloads_as_comfyui_does(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    executor = emulator.state.executor
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    await run(raw_http, emulator, {"prompt": txt2img(seed=1), "client_id": "X"})
    await free(raw_http, emulator, unload_models=True)
    assert executor.resident == []
    entry = await run(raw_http, emulator, {"prompt": txt2img(seed=2), "client_id": "X"})
    # The loader output is still cached; the sampler pays to load the model back.
    assert "4" in entry["status"]["messages"][1][1]["nodes"]
    assert executor.loads == [SD15, SD15] and executor.resident == [SD15]
    await free(raw_http, emulator, free_memory=True)  # implies unload_models
    entry = await run(raw_http, emulator, {"prompt": txt2img(seed=3), "client_id": "X"})
    assert entry["status"]["messages"][1][1]["nodes"] == []
    assert executor.loads == [SD15, SD15, SD15]
    await free(raw_http, emulator, unload_models=False, free_memory=False)
    assert executor.resident == [SD15]
    await ws.close()


async def test_free_while_running_applies_after_the_prompt(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    executor = emulator.state.executor
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    _, answer = await post_prompt(
        raw_http, emulator.base_url, {"prompt": txt2img(steps=40), "client_id": "X"}
    )
    await ws.until("progress", value=2)
    await free(raw_http, emulator, unload_models=True, free_memory=True)
    assert executor.resident == [SD15]  # still sampling with it
    await ws.until_idle(answer["prompt_id"])
    entry = await wait_history(raw_http, emulator.base_url, answer["prompt_id"])
    assert entry["status"]["status_str"] == "success"
    assert executor.resident == []
    await ws.close()


async def test_the_load_costs_load_ms(tmp_path: Path, raw_http: aiohttp.ClientSession) -> None:
    async with Emulator(emulator_config(base_dir=tmp_path, load_ms=300)) as server:
        started = time.monotonic()
        await run(raw_http, server, {"prompt": txt2img(ckpt=SDXL, steps=1)})
        assert time.monotonic() - started >= 0.3  # a lower bound: the load is a wait
        assert server.state.executor.loads == [SDXL]
