"""The TypeScript gRPC client (clients/typescript), built with Node 20 and tsc.

Its unit tests run under ``node --test``; its example generates an image against a
live gateway and must print progress events from the stream before the outputs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import ROOT, progress_lines_before_outputs
from tests.clients.toolchains import TS_CLIENT, npm_ci, tsc
from tests.stack import GatewayStack

EXAMPLE_JS = TS_CLIENT / "dist" / "examples" / "examples" / "typescript" / "generate.js"


@pytest.fixture(scope="module")
def built() -> Path:
    npm_ci(TS_CLIENT)
    tsc(TS_CLIENT)
    tsc(ROOT / "examples" / "typescript")
    return TS_CLIENT / "dist"


def test_unit_tests_pass_under_node(built: Path) -> None:
    run = subprocess.run(
        ["node", "--test", str(built / "test")], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout


def test_example_shows_progress_then_outputs(
    built: Path, gateway: GatewayStack, tmp_path: Path
) -> None:
    run = subprocess.run(
        ["node", str(EXAMPLE_JS), gateway.grpc_address, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    print(run.stdout)
    assert progress_lines_before_outputs(lines) >= 3
    outputs = [line for line in lines if line.startswith("output ")]
    assert outputs and "image/png" in outputs[0]
    stored = list(tmp_path.glob("*.png"))
    assert stored and stored[0].read_bytes().startswith(b"\x89PNG")
