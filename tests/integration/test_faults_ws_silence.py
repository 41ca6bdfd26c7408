"""A WebSocket that goes silent mid-run: the job still ends, from ComfyUI's history.

Every prompt of this module's emulator stops sending WebSocket messages after its
first sampler step (``COMFYUI_EMULATOR_FAIL=ws_silence``) while the work completes; the
worker's silence watchdog (10 s) then reads ``/history`` and collects the outputs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.stack import GatewayStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    env = {"COMFYUI_EMULATOR_FAIL": "ws_silence"}
    running = GatewayStack(tmp_path_factory.mktemp("silence"), env, emulator=True).start()
    running.register_bundled_workflows()
    yield running
    running.stop()


def test_silent_websocket_still_ends_succeeded_with_outputs_once(stack: GatewayStack) -> None:
    inputs = {"prompt": "silence", "width": 64, "height": 64, "steps": 3}
    started = time.monotonic()
    response = requests.post(
        f"{stack.base_url}/jobs", json={"workflowId": "icon_512", "inputs": inputs}, timeout=10
    )
    assert response.status_code == 202
    job_id = response.json()["jobId"]
    deadline = time.monotonic() + 40
    while True:
        job = requests.get(f"{stack.base_url}/jobs/{job_id}", timeout=5).json()
        if job["status"] != "queued" and job["status"] != "running":
            break
        assert time.monotonic() < deadline, f"job stuck: {job}"
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert len(job["outputs"]) == 1
    assert len(requests.get(f"{stack.comfyui_url}/history", timeout=5).json()) == 1
    print(f"\n[faults] silent WebSocket: job succeeded after {time.monotonic() - started:.1f} s")
