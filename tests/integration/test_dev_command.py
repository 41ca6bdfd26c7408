"""``comfyui-gateway dev`` as a newcomer runs it: everything up, supervised, stopped cleanly.

No COMFYUI_URL is set — that is the behaviour under test — so the emulator takes
``dev``'s default ComfyUI address, moved by DEV_COMFYUI_URL to a free port (tests never
bind 8188).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from comfyui_gateway.workflows import BUNDLED
from tests.ports import free_port

START_TIMEOUT_S = 60.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT_S:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            body = requests.get(f"{base_url}/health", timeout=1).json()
            if body.get("ok"):
                return time.monotonic() - started
        except (requests.ConnectionError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"dev never became healthy:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def dev(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    workdir = tmp_path_factory.mktemp("dev")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("COMFYUI_URL", "REDIS_URL", "DATABASE_URL", "STORAGE_LOCAL_PATH")
    }
    env |= {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "GRPC_PORT": str(free_port()),
        "ENVOY_ADMIN_PORT": str(free_port()),
        "COMFYUI_EMULATOR_STEP_MS": "5",
        "DEV_COMFYUI_URL": f"http://127.0.0.1:{free_port()}",
    }
    log = workdir / "dev.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "comfyui_gateway", "dev"],
            cwd=workdir,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        yield process, f"http://127.0.0.1:{port}", workdir
    finally:
        if process.poll() is None:
            # Read the children first: a killed process no longer lists them, and
            # orphans would keep holding ports (the emulator's 8188) for later runs.
            children = _children(process.pid)
            process.kill()
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            process.wait()


def test_dev_serves_health_and_runs_a_job(dev: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    process, base_url, workdir = dev
    took = _wait_healthy(base_url, process, workdir / "dev.log")
    assert took < START_TIMEOUT_S
    log = (workdir / "dev.log").read_text()
    assert "COMFYUI_URL is not set: running the bundled ComfyUI emulator" in log
    workflows = {
        w["id"] for w in requests.get(f"{base_url}/workflows", timeout=5).json()["workflows"]
    }
    assert workflows == {info.id for info in BUNDLED}
    body = {
        "workflowId": "icon_512",
        "inputs": {"prompt": "dev", "width": 64, "height": 64, "steps": 2},
    }
    job_id = requests.post(f"{base_url}/jobs", json=body, timeout=5).json()["jobId"]
    deadline = time.monotonic() + 30
    while requests.get(f"{base_url}/jobs/{job_id}", timeout=5).json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # Everything written lives in the data folder (the defaults ./data/...).
    assert sorted(p.name for p in workdir.iterdir()) == ["data", "dev.log"]
    assert {p.name for p in (workdir / "data").iterdir()} >= {
        "gateway.db",
        "outputs",
        "comfyui-emulator",
    }


def test_a_crashed_child_is_restarted(dev: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    process, base_url, workdir = dev
    _wait_healthy(base_url, process, workdir / "dev.log")
    servers = [pid for pid in _children(process.pid) if "comfyui_gateway run" in _cmdline(pid)]
    assert len(servers) == 1
    os.kill(servers[0], signal.SIGKILL)
    time.sleep(0.5)
    _wait_healthy(base_url, process, workdir / "dev.log")
    log = (workdir / "dev.log").read_text()
    assert "server exited with -9; restarting" in log
    replaced = [pid for pid in _children(process.pid) if "comfyui_gateway run" in _cmdline(pid)]
    assert replaced and replaced != servers


def test_sigterm_stops_everything(dev: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    process, base_url, workdir = dev
    _wait_healthy(base_url, process, workdir / "dev.log")
    children = _children(process.pid)
    assert len(children) == 3  # emulator, server, envoy
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    for child in children:
        assert (
            not Path(f"/proc/{child}").exists()
            or "zombie" in Path(f"/proc/{child}/status").read_text()
        )
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/health", timeout=1)
