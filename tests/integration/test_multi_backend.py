"""Several backends in one COMFYUI_URL: each gets workers; a backend that is down takes no jobs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.ports import free_port
from tests.stack import GatewayStack

SMALL = {"width": 64, "height": 64, "steps": 3}


def _emulator(workdir: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (workdir / f"{name}.log").open("wb")
    argv = [sys.executable, "-m", "comfyui_emulator", "--port", str(port), "--step-ms", "10"]
    # --dir: the media tests reach into the backend's input/ folder.
    process = subprocess.Popen(
        [*argv, "--dir", str(workdir / name)],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/system_stats", timeout=1).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not start")


@pytest.fixture(scope="module")
def two_backends(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GatewayStack, list[subprocess.Popen[bytes]], list[str]]]:
    workdir = tmp_path_factory.mktemp("multi")
    emulators = [_emulator(workdir, f"emulator-{index}") for index in range(2)]
    urls = [url for _, url in emulators]
    env = {"COMFYUI_URL": ",".join(urls), "MAX_CONCURRENCY": "1"}
    stack = GatewayStack(workdir, env)
    try:
        stack.start()
        subprocess.run(
            [sys.executable, "-m", "comfyui_gateway", "init"],
            env=stack.env,
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield stack, [process for process, _ in emulators], urls
    finally:
        stack.stop()
        for process, _ in emulators:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)


def _run_jobs(stack: GatewayStack, count: int) -> None:
    ids = []
    for index in range(count):
        body = {"workflowId": "icon_512", "inputs": {"prompt": f"m{index}", **SMALL}}
        ids.append(requests.post(f"{stack.base_url}/jobs", json=body, timeout=5).json()["jobId"])
    deadline = time.monotonic() + 60
    for job_id in ids:
        while (
            requests.get(f"{stack.base_url}/jobs/{job_id}", timeout=5).json()["status"]
            != "succeeded"
        ):
            assert time.monotonic() < deadline, f"job {job_id} stuck"
            time.sleep(0.1)


def _run_img2img(stack: GatewayStack, picture: bytes, seeds: range) -> None:
    import base64

    inputs = {"image": base64.b64encode(picture).decode(), "prompt": "two", "steps": 3}
    job_ids = []
    for seed in seeds:
        answer = requests.post(
            f"{stack.base_url}/jobs",
            json={"workflowId": "img2img_v1", "inputs": {**inputs, "seed": seed}},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        job_ids.append(answer.json()["jobId"])
    for job_id in job_ids:
        deadline = time.monotonic() + 60
        while (job := requests.get(f"{stack.base_url}/jobs/{job_id}", timeout=5).json())[
            "status"
        ] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["status"] == "succeeded", job


def _prompts(url: str) -> int:
    return len(requests.get(f"{url}/history", timeout=5).json())


def _backend_states(stack: GatewayStack) -> dict[str, bool]:
    body = requests.get(f"{stack.base_url}/health", timeout=5).json()
    return {backend["url"]: backend["reachable"] for backend in body["backends"]}


def _wait_states(stack: GatewayStack, wanted: dict[str, bool]) -> None:
    deadline = time.monotonic() + 30
    while _backend_states(stack) != wanted:
        assert time.monotonic() < deadline, _backend_states(stack)
        time.sleep(0.2)


def test_both_backends_take_jobs(
    two_backends: tuple[GatewayStack, list[subprocess.Popen[bytes]], list[str]],
) -> None:
    stack, _, urls = two_backends
    _wait_states(stack, dict.fromkeys(urls, True))
    _run_jobs(stack, 8)
    assert all(_prompts(url) >= 1 for url in urls)
    health = requests.get(f"{stack.base_url}/health", timeout=5).json()
    assert health["ok"] is True and len(health["backends"]) == 2


def test_media_inputs_reach_whichever_backend_runs_the_job(
    two_backends: tuple[GatewayStack, list[subprocess.Popen[bytes]], list[str]],
) -> None:
    import hashlib

    from tests.media_helpers import noise_png

    stack, _, urls = two_backends
    _wait_states(stack, dict.fromkeys(urls, True))
    picture = noise_png(32, 24, seed=91)
    name = f"{hashlib.sha256(picture).hexdigest()}.png"
    _run_img2img(stack, picture, seeds=range(8))  # one slot per backend: both take jobs
    ran = 0
    for url in urls:
        history = requests.get(f"{url}/history", timeout=5).json()
        used = [e for e in history.values() if f"gateway/{name}" in str(e["prompt"][2])]
        if not used:
            continue
        ran += 1
        view = {"filename": name, "subfolder": "gateway", "type": "input"}
        assert requests.get(f"{url}/view", params=view, timeout=5).content == picture
        copy = {**view, "filename": name.replace(".png", " (1).png")}
        assert requests.get(f"{url}/view", params=copy, timeout=5).status_code == 404
    assert ran == 2  # each backend got the file it needed, once


def test_a_backend_that_lost_its_inputs_gets_them_again(
    two_backends: tuple[GatewayStack, list[subprocess.Popen[bytes]], list[str]],
) -> None:
    from tests.media_helpers import noise_png

    stack, _, _ = two_backends
    picture = noise_png(24, 16, seed=93)
    _run_img2img(stack, picture, seeds=range(100, 108))
    # Both backends' input folders are emptied (as a redeployed ComfyUI would be), while
    # the workers still remember having uploaded the file: validation refuses the
    # prompt, the worker uploads again once and resubmits.
    for folder in stack.workdir.glob("emulator-*/input/gateway"):
        for file in folder.iterdir():
            file.unlink()
    _run_img2img(stack, picture, seeds=range(200, 206))


def test_a_down_backend_takes_no_jobs(
    two_backends: tuple[GatewayStack, list[subprocess.Popen[bytes]], list[str]],
) -> None:
    stack, processes, urls = two_backends
    processes[1].send_signal(signal.SIGKILL)
    processes[1].wait()
    _wait_states(stack, {urls[0]: True, urls[1]: False})
    before = _prompts(urls[0])
    _run_jobs(stack, 4)
    assert _prompts(urls[0]) == before + 4
    assert requests.get(f"{stack.base_url}/health", timeout=5).json()["ok"] is True
