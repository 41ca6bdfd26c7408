"""(a) Added latency per job: the gateway versus calling the emulator directly.

Both sides run the same rendered graph with the same ComfyUI client library (the
worker's ``ComfyUIClient``) against the same emulator with a fixed step time; the
gateway side is measured from ``POST /jobs`` to the terminal event on the SSE stream.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from bench.common import (
    SMALL_INPUTS,
    WORKFLOW,
    heading,
    percentile,
    rendered_graph,
    running_stack,
    summary_ms,
)
from worker.comfyui import ClientConfig, ComfyUIClient

RUNS = 30


async def direct_runs(comfyui_url: str, runs: int) -> list[float]:
    durations = []
    async with ComfyUIClient(comfyui_url, ClientConfig()) as client:
        for index in range(runs):
            graph = rendered_graph(seed=10_000 + index)
            started = time.perf_counter()
            await client.run(graph)
            durations.append(time.perf_counter() - started)
    return durations


async def gateway_runs(base_url: str, runs: int) -> list[float]:
    durations = []
    async with aiohttp.ClientSession() as session:
        for index in range(runs):
            body = {"workflowId": WORKFLOW, "inputs": {**SMALL_INPUTS, "seed": 20_000 + index}}
            started = time.perf_counter()
            async with session.post(f"{base_url}/jobs", json=body) as response:
                job_id = (await response.json())["jobId"]
            async with session.get(f"{base_url}/jobs/{job_id}/events") as stream:
                async for line in stream.content:
                    if line.startswith(b"data: ") and json.loads(line[6:])["type"] == "terminal":
                        break
            durations.append(time.perf_counter() - started)
    return durations


def run(step_ms: int = 20) -> dict[str, float]:
    heading(f"(a) added latency per job ({RUNS} sequential jobs, 5 steps x {step_ms} ms, 64x64)")
    with running_stack({"COMFYUI_EMULATOR_STEP_MS": str(step_ms)}) as stack:
        asyncio.run(direct_runs(stack.comfyui_url, 3))  # warm both paths
        asyncio.run(gateway_runs(stack.base_url, 3))
        direct = asyncio.run(direct_runs(stack.comfyui_url, RUNS))
        through = asyncio.run(gateway_runs(stack.base_url, RUNS))
    added = [g - d for g, d in zip(sorted(through), sorted(direct), strict=True)]
    print(f"direct to emulator : {summary_ms(direct)}")
    print(f"through the gateway: {summary_ms(through)}")
    p50_ratio = percentile(through, 0.5) / percentile(direct, 0.5)
    p99_ratio = percentile(through, 0.99) / percentile(direct, 0.99)
    print(
        f"added (p50)        : {percentile(added, 0.5) * 1000:7.1f} ms   "
        f"ratio p50 {p50_ratio:.2f}x  p99 {p99_ratio:.2f}x"
    )
    return {"p50_ratio": p50_ratio, "p99_ratio": p99_ratio}
