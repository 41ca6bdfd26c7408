"""SIGTERM on the server: open progress streams end with their job's state, not cut off."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from comfyui_gateway.jobs.watch import SHUTDOWN_MESSAGE
from tests.stack import GatewayStack


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayStack]:
    with GatewayStack(tmp_path, {"COMFYUI_EMULATOR_STEP_MS": "50"}, emulator=True) as stack:
        import subprocess
        import sys

        subprocess.run(
            [sys.executable, "-m", "comfyui_gateway", "init"],
            env=stack.env,
            cwd=tmp_path,
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield stack


def test_sigterm_ends_streams_with_the_jobs_state(gateway: GatewayStack) -> None:
    body = {
        "workflowId": "icon_512",
        "inputs": {"prompt": "long", "width": 64, "height": 64, "steps": 150},
    }
    job_id = requests.post(f"{gateway.base_url}/jobs", json=body, timeout=5).json()["jobId"]
    events: list[dict[str, Any]] = []
    opened = threading.Event()

    def follow() -> None:
        with requests.get(
            f"{gateway.base_url}/jobs/{job_id}/events", stream=True, timeout=30
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith(b"data: "):
                    events.append(json.loads(line[6:]))
                    opened.set()

    reader = threading.Thread(target=follow)
    reader.start()
    assert opened.wait(10)
    time.sleep(1.0)  # some progress
    server = gateway.server_process
    assert server is not None
    server.send_signal(signal.SIGTERM)
    reader.join(timeout=20)
    assert not reader.is_alive(), "the stream was not ended"
    assert server.wait(timeout=20) == 0
    last = events[-1]
    assert last["message"] == SHUTDOWN_MESSAGE
    assert last["jobId"] == job_id
    assert last["status"] in ("queued", "running")
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress)
