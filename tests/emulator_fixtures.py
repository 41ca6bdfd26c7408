"""Emulator fixtures for the ComfyUI client and emulator tests.

Usage in a test module (helpers come from ``tests.emulator_helpers``)::

    pytest_plugins = ("tests.emulator_fixtures",)

``emulator`` is an in-process ComfyUI emulator on a free port (5 ms per sampler step,
crashes abort its sockets instead of killing the test process); ``comfy`` a started
``ComfyUIClient`` on it with short watchdog and poll intervals; ``raw_http`` a bare aiohttp
session for protocol-level assertions; ``emulator_process`` the emulator as a subprocess,
for tests that kill it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from comfyui_emulator import Emulator
from tests.emulator_helpers import FAST_CLIENT, EmulatorProcess, emulator_config
from worker.comfyui import ComfyUIClient


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    async with Emulator(emulator_config(base_dir=tmp_path / "comfyui")) as running:
        yield running


@pytest.fixture
async def comfy(emulator: Emulator) -> AsyncIterator[ComfyUIClient]:
    async with ComfyUIClient(emulator.base_url, FAST_CLIENT) as client:
        yield client


@pytest.fixture
async def raw_http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()
