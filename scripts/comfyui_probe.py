"""Probe a ComfyUI (or the bundled emulator) and print what it sends, scenario by scenario.

For each scenario it prints the WebSocket message sequence (type and the fields that
matter) and the shape of the history entry, so a real server and the emulator can be
compared line by line.

Usage::

    python scripts/comfyui_probe.py                       # starts an emulator in-process
    python scripts/comfyui_probe.py --url http://127.0.0.1:8188 --ckpt random_sd15.safetensors
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import uuid
from contextlib import AsyncExitStack
from typing import Any

import aiohttp

from comfyui_emulator import Emulator, EmulatorConfig

Graph = dict[str, Any]


def txt2img(ckpt: str, seed: int, steps: int) -> Graph:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["4", 0],
                "seed": seed,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
                "denoise": 1.0,
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {
            "class_type": "SaveImage",
            "inputs": {"images": ["8", 0], "filename_prefix": "probe"},
        },
    }


def plain() -> Graph:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 255},
        },
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": "probe"},
        },
    }


def shape(value: Any, depth: int = 0) -> Any:
    """Types instead of values, two levels of lists kept; enough to compare structures."""
    if isinstance(value, dict):
        return {key: shape(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item, depth + 1) for item in value[:2]] + (["…"] if len(value) > 2 else [])
    if isinstance(value, str) and depth > 0:
        return "str" if len(value) > 40 else value
    return value


def summary(message: dict[str, Any]) -> str:
    kind, data = message["type"], message.get("data", {})
    if kind == "status":
        return f"status q={data['status']['exec_info']['queue_remaining']}" + (
            " sid" if "sid" in data else ""
        )
    if kind == "executing":
        return f"executing node={data.get('node')}" + (
            "" if "prompt_id" in data else " (no prompt_id)"
        )
    if kind == "progress":
        return f"progress {data['value']}/{data['max']} node={data['node']}"
    if kind == "progress_state":
        nodes = ", ".join(
            f"{n}:{s['state'][0]}{s['value']!r}/{s['max']!r}" for n, s in data["nodes"].items()
        )
        return f"progress_state [{nodes}]"
    if kind == "execution_cached":
        return f"execution_cached nodes={data['nodes']}"
    if kind == "executed":
        return f"executed node={data['node']} output={json.dumps(data['output'])}"
    if kind in ("execution_error", "execution_interrupted"):
        extra = (
            f" {data.get('exception_type')}: {str(data.get('exception_message', ''))[:60]!r}"
            if kind == "execution_error"
            else ""
        )
        return f"{kind} node={data['node_id']} ({data['node_type']}) keys={list(data)}{extra}"
    return str(kind)


def ids(queue: dict[str, Any]) -> str:
    running = [item[1][:8] for item in queue["queue_running"]]
    pending = [item[1][:8] for item in queue["queue_pending"]]
    return f"running={running} pending={pending}"


class Probe:
    def __init__(self, url: str, session: aiohttp.ClientSession, ckpt: str) -> None:
        self.url, self.session, self.ckpt = url, session, ckpt
        self.client_id = uuid.uuid4().hex

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.session.post(self.url + path, json=body) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def history(self, prompt_id: str) -> dict[str, Any]:
        for _ in range(600):
            async with self.session.get(f"{self.url}/history/{prompt_id}") as response:
                body = await response.json()
            if prompt_id in body:
                return dict(body[prompt_id])
            await asyncio.sleep(0.05)
        return {}

    async def scenario(
        self,
        title: str,
        graph: Graph,
        *,
        extra: dict[str, Any] | None = None,
        interrupt_at_step: int | None = None,
    ) -> None:
        print(f"\n=== {title}")
        async with self.session.ws_connect(f"{self.url}/ws?clientId={self.client_id}") as ws:
            await ws.receive()  # the first status frame
            body: dict[str, Any] = {"prompt": graph, "client_id": self.client_id}
            if extra:
                body["extra_data"] = extra
            status, answer = await self.post("/prompt", body)
            print(f"POST /prompt -> {status} {json.dumps(shape(answer))}")
            if status != 200:
                return
            prompt_id = answer["prompt_id"]
            while True:
                message = await ws.receive(timeout=60)
                if message.type is aiohttp.WSMsgType.BINARY:
                    event = struct.unpack(">I", message.data[:4])[0]
                    print(f"  <binary event {event}, {len(message.data)} bytes>")
                    continue
                data = json.loads(message.data)
                print("  " + summary(data))
                if (
                    interrupt_at_step is not None
                    and data["type"] == "progress"
                    and data["data"]["value"] == interrupt_at_step
                ):
                    status, _ = await self.post("/interrupt", {"prompt_id": prompt_id})
                    print(f"  >> POST /interrupt {{prompt_id}} -> {status}")
                if (
                    data["type"] == "executing"
                    and data["data"].get("node") is None
                    and data["data"].get("prompt_id") == prompt_id
                ):
                    break
        entry = await self.history(prompt_id)
        print("history entry shape:")
        print("  " + json.dumps(shape({k: v for k, v in entry.items() if k != "prompt"})))
        item = entry["prompt"]
        print(f"  prompt item: {len(item)} elements, extra_data={item[3]}, outputs={item[4]}")

    async def pending_delete(self) -> None:
        print("\n=== pending prompt deleted from the queue")
        _, running = await self.post(
            "/prompt", {"prompt": txt2img(self.ckpt, 99, 200), "client_id": self.client_id}
        )
        _, pending = await self.post("/prompt", {"prompt": plain(), "client_id": self.client_id})
        async with self.session.get(self.url + "/queue") as response:
            queue = await response.json()
        print(f"GET /queue: {ids(queue)}, item length={len(queue['queue_pending'][0])}")
        status, body = await self.post("/queue", {"delete": [pending["prompt_id"]]})
        print(f"POST /queue {{delete:[pending]}} -> {status} body={body!r}")
        async with self.session.get(self.url + "/queue") as response:
            queue = await response.json()
        print(f"GET /queue: {ids(queue)}")
        async with self.session.get(f"{self.url}/history/{pending['prompt_id']}") as response:
            print(f"GET /history/<deleted> -> {await response.json()}")
        await self.post("/interrupt", {"prompt_id": running["prompt_id"]})
        await self.history(running["prompt_id"])

    async def run_all(self) -> None:
        await self.scenario("plain run (EmptyImage -> ImageInvert -> SaveImage)", plain())
        await self.scenario("sampler run with progress (3 steps)", txt2img(self.ckpt, 1, 3))
        bad = plain()
        bad["1"]["inputs"]["width"] = -5
        await self.scenario("validation error (width -5)", bad)
        await self.scenario(
            "runtime error (emulator failure injection; a real server ignores it)",
            txt2img(self.ckpt, 2, 3),
            extra={"emulator": {"fail": "node_error", "at_step": 2}},
        )
        await self.scenario(
            "interrupt while executing", txt2img(self.ckpt, 3, 50), interrupt_at_step=2
        )
        await self.pending_delete()
        await self.scenario("first run of a graph", txt2img(self.ckpt, 4, 3))
        await self.scenario("fully cached re-run of the same graph", txt2img(self.ckpt, 4, 3))


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a ComfyUI base URL; default: start an emulator")
    parser.add_argument("--ckpt", default="v1-5-pruned-emaonly.safetensors")
    args = parser.parse_args(argv)
    async with AsyncExitStack() as stack:
        url = args.url
        if url is None:
            emulator = await stack.enter_async_context(
                Emulator(EmulatorConfig(step_ms=10, crash_mode="abort"))
            )
            url = emulator.base_url
            print(f"probing the bundled emulator at {url}")
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        )
        await Probe(url.rstrip("/"), session, args.ckpt).run_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
