"""(b) Backend busy fraction over a burst, MAX_CONCURRENCY 1 versus 2.

Busy time is read from ComfyUI's own history (execution_start .. execution_success of
every prompt); the fraction is busy time over the burst's span on the backend. With
one prompt in flight the GPU idles while the gateway downloads and stores outputs;
with two, the next prompt is already queued in ComfyUI.
"""

from __future__ import annotations

import time

import requests

from bench.common import WORKFLOW, heading, running_stack

BURST = 24


def _busy_fraction(comfyui_url: str) -> tuple[float, float]:
    history = requests.get(f"{comfyui_url}/history", timeout=30).json()
    spans = []
    for entry in history.values():
        stamps = {kind: data["timestamp"] for kind, data in entry["status"]["messages"]}
        if "execution_start" in stamps and "execution_success" in stamps:
            spans.append((stamps["execution_start"], stamps["execution_success"]))
    start = min(s for s, _ in spans)
    end = max(e for _, e in spans)
    busy = sum(e - s for s, e in spans)
    return busy / (end - start), (end - start) / 1000


def _burst(base_url: str) -> float:
    started = time.perf_counter()
    ids = []
    for index in range(BURST):
        body = {
            "workflowId": WORKFLOW,
            # A larger image makes output handling (download, hash, store) visible.
            "inputs": {"prompt": "busy", "width": 1024, "height": 1024, "steps": 4, "seed": index},
        }
        ids.append(requests.post(f"{base_url}/jobs", json=body, timeout=30).json()["jobId"])
    for job_id in ids:
        while (
            requests.get(f"{base_url}/jobs/{job_id}", timeout=30).json()["status"] == "queued"
            or requests.get(f"{base_url}/jobs/{job_id}", timeout=30).json()["status"] == "running"
        ):
            time.sleep(0.05)
    return time.perf_counter() - started


def _status(base_url: str, job_id: str) -> str:
    status: str = requests.get(f"{base_url}/jobs/{job_id}", timeout=30).json()["status"]
    return status


def run(step_ms: int = 25) -> dict[str, float]:
    heading(f"(b) backend busy fraction, burst of {BURST} jobs (1024x1024, 4 steps x {step_ms} ms)")
    figures = {}
    for concurrency in (1, 2):
        env = {"COMFYUI_EMULATOR_STEP_MS": str(step_ms), "MAX_CONCURRENCY": str(concurrency)}
        with running_stack(env) as stack:
            wall = _burst(stack.base_url)
            fraction, span = _busy_fraction(stack.comfyui_url)
        figures[f"mc{concurrency}"] = fraction
        print(
            f"MAX_CONCURRENCY={concurrency}: busy {fraction * 100:5.1f}% of {span:5.2f} s "
            f"on the backend; burst done in {wall:5.2f} s"
        )
    print(f"busy fraction ratio (2 vs 1): {figures['mc2'] / figures['mc1']:.2f}x")
    return figures
