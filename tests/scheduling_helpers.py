"""Stacks and probes for the scheduling tests and ``bench/affinity.py``: two emulated
backends behind one gateway, jobs per owner and checkpoint, what each backend ran."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from comfyui_emulator.config import DEFAULT_CHECKPOINTS
from tests.emulator_helpers import EmulatorProcess
from tests.stack import GatewayStack

CHECKPOINTS: tuple[str, str] = (DEFAULT_CHECKPOINTS[0], DEFAULT_CHECKPOINTS[1])
TERMINAL = {"succeeded", "failed", "cancelled"}


@contextlib.contextmanager
def emulators(workdir: Path, count: int, env: dict[str, str]) -> Iterator[list[EmulatorProcess]]:
    """``count`` emulator processes, each with its own folder."""
    started: list[EmulatorProcess] = []
    try:
        for index in range(count):
            folder = workdir / f"emulator-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            started.append(EmulatorProcess(folder, env))
        for emulator in started:
            emulator.wait_ready()
        yield started
    finally:
        for emulator in started:
            emulator.stop()


@contextlib.contextmanager
def gateway(
    workdir: Path, backends: Sequence[str], env: dict[str, str], *, workers: int = 0
) -> Iterator[GatewayStack]:
    """A gateway on ``backends`` (``workers`` RQ workers per backend, else embedded),
    bundled workflows registered, every backend reported reachable."""
    workdir.mkdir(parents=True, exist_ok=True)
    stack = GatewayStack(workdir, {"COMFYUI_URL": ",".join(backends), **env})
    if workers:
        stack.env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
        stack.env["REDIS_NAMESPACE"] = f"t{uuid.uuid4().hex[:10]}"
    with stack:
        for index, backend in enumerate(b for b in backends for _ in range(workers)):
            stack.start_worker(index, backend=backend)
        subprocess.run(
            [sys.executable, "-m", "comfyui_gateway", "init"],
            env=stack.env,
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_reachable(stack, backends)
        yield stack


def wait_reachable(stack: GatewayStack, backends: Sequence[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        body = requests.get(f"{stack.base_url}/health", timeout=5).json()
        up = {b["url"] for b in body.get("backends", []) if b.get("reachable")}
        if set(backends) <= up:
            return
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def submit(
    session: requests.Session,
    stack: GatewayStack,
    *,
    checkpoint: str,
    seed: int,
    key: str | None = None,
    steps: int = 2,
) -> str:
    inputs = {"prompt": "sched", "width": 64, "height": 64, "steps": steps, "seed": seed}
    body = {"workflowId": "icon_512", "inputs": {**inputs, "checkpoint": checkpoint}}
    headers = {"X-API-Key": key} if key else {}
    answer = session.post(f"{stack.base_url}/jobs", json=body, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["jobId"]
    return job_id


def job(
    session: requests.Session, stack: GatewayStack, job_id: str, key: str | None = None
) -> dict[str, Any]:
    headers = {"X-API-Key": key} if key else {}
    answer = session.get(f"{stack.base_url}/jobs/{job_id}", headers=headers, timeout=30)
    body: dict[str, Any] = answer.json()
    return body


def wait_terminal(
    session: requests.Session,
    stack: GatewayStack,
    ids: Sequence[str],
    key: str | None = None,
    timeout_s: float = 120,
) -> None:
    deadline = time.monotonic() + timeout_s
    for job_id in ids:
        while (status := job(session, stack, job_id, key)["status"]) not in TERMINAL:
            assert time.monotonic() < deadline, f"job {job_id} still {status}"
            time.sleep(0.05)
        assert status == "succeeded", job(session, stack, job_id, key)


def started_at(view: dict[str, Any]) -> datetime | None:
    stamp = view.get("timing", {}).get("startedAt")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def loads(url: str) -> list[str]:
    """Every checkpoint load the emulator paid for, in order."""
    loaded: list[str] = requests.get(f"{url}/emulator/models", timeout=10).json()["loads"]
    return loaded


def checkpoints_run(url: str) -> list[str]:
    """The checkpoint of every prompt the backend ran (its ``/history``)."""
    history = requests.get(f"{url}/history", timeout=30).json()
    names = []
    for entry in history.values():
        graph = entry["prompt"][2]
        names += [
            node["inputs"]["ckpt_name"]
            for node in graph.values()
            if node.get("class_type") == "CheckpointLoaderSimple"
        ]
    return names


def busy_fraction(url: str) -> float:
    """Busy time over span on the backend, from ComfyUI's own history timestamps."""
    history = requests.get(f"{url}/history", timeout=30).json()
    spans = []
    for entry in history.values():
        stamps = {kind: data["timestamp"] for kind, data in entry["status"]["messages"]}
        if "execution_start" in stamps and "execution_success" in stamps:
            spans.append((stamps["execution_start"], stamps["execution_success"]))
    if not spans:
        return 0.0
    span = max(e for _, e in spans) - min(s for s, _ in spans)
    return sum(e - s for s, e in spans) / span if span else 1.0
