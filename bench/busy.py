"""(b) Backend busy fraction across a burst of short jobs.

Busy time is read from ComfyUI's own history (``execution_start`` .. ``execution_success``
of every prompt, as a real ComfyUI records them); the fraction is busy time over the
burst's span on the backend. With one prompt in flight ComfyUI idles while the gateway
fetches and stores outputs and picks the next job; with two, the next prompt is
already queued in ComfyUI. Target (issue 13): ≥ 99 % with ``MAX_CONCURRENCY=2``; the
baseline is the same burst with ``MAX_CONCURRENCY=1`` in the same run. In RQ mode
each worker process runs one job at a time, so the stack runs ``MAX_CONCURRENCY``
workers on the one backend, as the README's Scaling section says to.

Each stack takes two bursts: the first meets processes that have just started (first
statements compiled, first connections opened, first code paths run) and is printed
for what it is; the second, on the warm processes, is the figure, as the other
benches measure after a warm-up. Only the second burst's prompts are counted in it.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace

import aiohttp
import requests

from bench import gateway_side
from bench.common import MODES, Figure, Mode, heading, record, running_stack

BURST = int(os.environ.get("BENCH_BUSY_JOBS", "24"))
STEP_MS = 20
TARGET = 99.0


def _busy_percent(comfyui_url: str, since_ms: float = 0.0) -> tuple[float, float]:
    """Busy share of the backend's span (percent) and that span in seconds, over the
    prompts that started at or after ``since_ms`` (ComfyUI's epoch milliseconds)."""
    history = requests.get(f"{comfyui_url}/history", timeout=30).json()
    spans = []
    for entry in history.values():
        stamps = {kind: data["timestamp"] for kind, data in entry["status"]["messages"]}
        finished = "execution_start" in stamps and "execution_success" in stamps
        if finished and stamps["execution_start"] >= since_ms:
            spans.append((stamps["execution_start"], stamps["execution_success"]))
    start = min(s for s, _ in spans)
    end = max(e for _, e in spans)
    busy = sum(e - s for s, e in spans)
    return 100.0 * busy / (end - start), (end - start) / 1000


async def _burst(base_url: str, first_seed: int = 0) -> None:
    """Submit the whole burst at once, then wait for every job's terminal event (seeds
    from ``first_seed``: a second burst must not be answered from the result cache)."""
    async with aiohttp.ClientSession() as session:
        ids = [
            await gateway_side.submit(
                session,
                base_url,
                {"prompt": "busy", "width": 512, "height": 512, "steps": 4, "seed": seed},
            )
            for seed in range(first_seed, first_seed + BURST)
        ]
        await asyncio.gather(
            *(gateway_side.terminal_event(session, base_url, job_id) for job_id in ids)
        )


def _fraction(mode: Mode, concurrency: int) -> float:
    env = {"COMFYUI_EMULATOR_STEP_MS": str(STEP_MS), "MAX_CONCURRENCY": str(concurrency)}
    if mode.workers:  # RQ: one job per worker process, so MAX_CONCURRENCY workers (README)
        mode = replace(mode, workers=concurrency)
    with running_stack(env, mode) as stack:
        asyncio.run(_burst(stack.base_url))
        cold, cold_span = _busy_percent(stack.comfyui_url)
        warm_from_ms = time.time() * 1000
        asyncio.run(_burst(stack.base_url, first_seed=BURST))
        busy, span = _busy_percent(stack.comfyui_url, since_ms=warm_from_ms)
    print(
        f"{mode.name:9s} MAX_CONCURRENCY={concurrency}: busy {busy:5.1f} % of {span:5.2f} s "
        f"(the first burst, on processes just started: {cold:5.1f} % of {cold_span:5.2f} s)"
    )
    return busy


def run() -> None:
    heading(f"(b) backend busy across a burst of {BURST} jobs (512x512, 4 steps x {STEP_MS} ms)")
    for mode in MODES:
        baseline = _fraction(mode, 1)
        busy = _fraction(mode, 2)
        record(
            Figure(
                "busy",
                mode.name,
                "backend busy, MAX_CONCURRENCY=2",
                busy,
                "%",
                baseline=baseline,
                baseline_name="MAX_CONCURRENCY=1",
                target=f">= {TARGET:.0f} %",
                met=busy >= TARGET,
            )
        )
