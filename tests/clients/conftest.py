"""Client tests: a real gateway with the ComfyUI emulator, one per test module.

The emulator's sampler takes 20 ms a step and jobs ask for 20 steps, so every job
streams well over three progress events before its outputs.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import GatewayStack

ROOT = Path(__file__).resolve().parents[2]
STEPS = 20
INPUTS = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": STEPS}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp("clients")
    stack = GatewayStack(workdir, {"COMFYUI_EMULATOR_STEP_MS": "20"}, emulator=True)
    stack.start()
    try:
        subprocess.run(
            [sys.executable, "-m", "comfyui_gateway", "init"],
            env=stack.env,
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield stack
    finally:
        stack.stop()


def progress_lines_before_outputs(lines: list[str]) -> int:
    """How many ``event progress`` lines an example printed before its first ``output``."""
    first_output = next(i for i, line in enumerate(lines) if line.startswith("output "))
    return sum(1 for line in lines[:first_output] if line.startswith("event progress"))
