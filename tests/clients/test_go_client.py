"""The Go client (clients/go): generated with Debian's protoc-gen-go(-grpc), built in
GOPATH mode against Debian's grpc-go, and its example run against a live gateway."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import progress_lines_before_outputs
from tests.clients.toolchains import go_build
from tests.stack import GatewayStack

# The first build compiles grpc-go from source: allow it more than the usual minute.
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gopath = tmp_path_factory.mktemp("gopath")
    binary = gopath / "generate"
    go_build("examples/go/generate", binary, gopath)
    return binary


def test_example_shows_progress_then_outputs(
    example: Path, gateway: GatewayStack, tmp_path: Path
) -> None:
    run = subprocess.run(
        [str(example), "-target", gateway.grpc_address, "-out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    print(run.stdout)
    lines = run.stdout.splitlines()
    assert progress_lines_before_outputs(lines) >= 3
    assert any(line.startswith("output ") and "image/png" in line for line in lines)
    assert next(tmp_path.glob("*.png")).read_bytes().startswith(b"\x89PNG")


def test_errors_carry_the_gateway_code(example: Path, gateway: GatewayStack) -> None:
    run = subprocess.run(
        [str(example), "-target", gateway.grpc_address, "-workflow", "no_such_workflow"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "WORKFLOW_NOT_FOUND" in run.stderr


def test_upload_example_runs_a_workflow_on_a_picture(
    gateway: GatewayStack, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.clients.test_python_client import _register_invert
    from tests.media_helpers import inverted, noise_png, rgb_bytes

    _register_invert(gateway)
    gopath = tmp_path_factory.mktemp("gopath-upload")
    binary = gopath / "upload"
    go_build("examples/go/upload", binary, gopath)
    picture = noise_png(22, 18, seed=61)
    (tmp_path / "in.png").write_bytes(picture)
    argv = [str(binary), "-target", gateway.grpc_address, "-workflow", "client_invert"]
    argv += ["-image", str(tmp_path / "in.png"), "-out", str(tmp_path)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    (output,) = [p for p in tmp_path.glob("*.png") if p.name != "in.png"]
    assert rgb_bytes(output.read_bytes())[1] == inverted(picture)
