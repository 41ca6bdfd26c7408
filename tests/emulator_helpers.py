"""Helpers for the ComfyUI client and emulator tests: graphs, a WS recorder, a subprocess
emulator, and the fast client settings. The fixtures live in ``tests.emulator_fixtures``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from comfyui_emulator import EmulatorConfig
from tests.ports import free_port
from worker.comfyui import ClientConfig

Graph = dict[str, Any]
REPO = Path(__file__).resolve().parent.parent

FAST_CLIENT = ClientConfig(
    request_timeout_s=5.0,
    connect_timeout_s=1.0,
    run_timeout_s=20.0,
    ws_silence_s=0.5,
    poll_interval_s=0.1,
    startup_wait_s=5.0,
    unreachable_grace_s=0.5,
    ws_connect_wait_s=1.0,
    ws_heartbeat_s=2.0,
)


def emulator_config(**overrides: Any) -> EmulatorConfig:
    return EmulatorConfig(**{"step_ms": 5.0, "crash_mode": "abort", **overrides})


class EmulatorProcess:
    """``python -m comfyui_emulator`` in a subprocess, for tests that kill it."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._log = (workdir / "emulator.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "comfyui_emulator",
                "--port",
                str(self.port),
                "--dir",
                str(workdir),
            ],
            cwd=REPO,
            env={**os.environ, "COMFYUI_EMULATOR_STEP_MS": "20", **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.process.returncode}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError("emulator did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


# -- graphs ---------------------------------------------------------------------------


def txt2img(
    *,
    seed: int = 1,
    steps: int = 3,
    width: int = 64,
    height: int = 64,
    batch: int = 1,
    text: str = "a red fox",
    prefix: str = "gw_test",
    ckpt: str = "v1-5-pruned-emaonly.safetensors",
) -> Graph:
    """The classic 7-node text-to-image graph, SaveImage at node 9, KSampler at node 3."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": width, "height": height, "batch_size": batch},
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
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": prefix}},
    }


def three_nodes(*, width: int = 16, height: int = 16, color: int = 0xFF0000) -> Graph:
    """EmptyImage (1) → ImageInvert (2) → SaveImage (3): runs in a few milliseconds."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": width, "height": height, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": "gw_test"},
        },
    }


def fail(kind: str, **where: Any) -> dict[str, Any]:
    """``extra_data`` asking the emulator for a failure."""
    return {"emulator": {"fail": kind, **where}}


class WsRecorder:
    """A raw WebSocket that records every frame, for sequence assertions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.binary: list[bytes] = []

    @classmethod
    async def connect(
        cls, session: aiohttp.ClientSession, base_url: str, client_id: str | None
    ) -> WsRecorder:
        query = f"?clientId={client_id}" if client_id else ""
        return cls(await session.ws_connect(f"{base_url}/ws{query}"))

    async def next(self, timeout_s: float = 5.0) -> dict[str, Any]:
        while True:
            message = await self.ws.receive(timeout=timeout_s)
            if message.type is aiohttp.WSMsgType.BINARY:
                self.binary.append(message.data)
                continue
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket closed: {message.type}")
            data: dict[str, Any] = json.loads(message.data)
            self.messages.append(data)
            return data

    async def until(self, kind: str, timeout_s: float = 10.0, **match: Any) -> dict[str, Any]:
        """Read until a message of ``kind`` whose data has ``match``; return it."""
        async with asyncio.timeout(timeout_s):
            while True:
                message = await self.next(timeout_s)
                data = message["data"]
                if message["type"] == kind and all(data.get(k) == v for k, v in match.items()):
                    return message

    async def until_idle(self, prompt_id: str) -> list[dict[str, Any]]:
        """Read until ``executing{node:null}`` for ``prompt_id``; return what was read."""
        start = len(self.messages)
        await self.until("executing", node=None, prompt_id=prompt_id)
        return self.messages[start:]

    def kinds(self, messages: list[dict[str, Any]] | None = None) -> list[str]:
        return [m["type"] for m in (self.messages if messages is None else messages)]

    async def close(self) -> None:
        await self.ws.close()


async def post_prompt(
    session: aiohttp.ClientSession, base_url: str, body: dict[str, Any]
) -> tuple[int, Any]:
    async with session.post(f"{base_url}/prompt", json=body) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except json.JSONDecodeError:
            return response.status, text


async def wait_history(
    session: aiohttp.ClientSession, base_url: str, prompt_id: str, timeout_s: float = 10.0
) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            async with session.get(f"{base_url}/history/{prompt_id}") as response:
                body = await response.json()
            if prompt_id in body:
                entry: dict[str, Any] = body[prompt_id]
                return entry
            await asyncio.sleep(0.02)
