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

# tsc alone takes over a minute on a loaded 2-core machine (the default timeout is 60 s).
pytestmark = pytest.mark.timeout(300)

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


def test_upload_example_runs_a_workflow_on_a_picture(
    built: Path, gateway: GatewayStack, tmp_path: Path
) -> None:
    from tests.clients.test_python_client import _register_invert
    from tests.media_helpers import inverted, noise_png, rgb_bytes

    _register_invert(gateway)
    picture = noise_png(26, 14, seed=51)
    (tmp_path / "in.png").write_bytes(picture)
    example = EXAMPLE_JS.with_name("upload.js")
    argv = ["node", str(example), gateway.grpc_address, "client_invert", str(tmp_path / "in.png")]
    run = subprocess.run([*argv, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "upload upload://up_" in run.stdout and " 26x14 " in run.stdout
    (output,) = [p for p in tmp_path.glob("*.png") if p.name != "in.png"]
    assert rgb_bytes(output.read_bytes())[1] == inverted(picture)
