"""(a) Added latency per job: the gateway versus calling ComfyUI directly.

The emulator runs with zero step, node and load time, so what remains of a job is the
protocol's own cost. The direct side speaks ComfyUI's protocol raw
(``bench/comfy_direct.py``); the gateway side is a plain REST client
(``bench/gateway_side.py``). Both run the same rendered graph, from submit to output
bytes in hand, alternating run by run so drift on the machine hits both alike.
Targets (issue 13): added p50 ≤ 10 ms and p99 ≤ 30 ms embedded; p50 ≤ 15 ms in RQ mode.
"""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp

from bench import gateway_side
from bench.comfy_direct import DirectComfyUI
from bench.common import (
    MODES,
    SMALL_INPUTS,
    ZERO_STEP_TIME,
    Figure,
    Mode,
    heading,
    percentile,
    record,
    rendered_graph,
    running_stack,
    summary_ms,
)

RUNS = int(os.environ.get("BENCH_LATENCY_RUNS", "100"))
WARMUP = 5
TARGETS_MS = {"embedded": (10.0, 30.0), "rq+pg": (15.0, None)}


async def _alternating(comfyui_url: str, base_url: str, runs: int) -> tuple[list[float], ...]:
    direct: list[float] = []
    through: list[float] = []
    async with DirectComfyUI(comfyui_url) as comfy, aiohttp.ClientSession() as session:
        for index in range(runs):
            graph = rendered_graph(seed=10_000 + index)
            started = time.perf_counter()
            files = await comfy.run(graph)
            direct.append(time.perf_counter() - started)
            inputs = {**SMALL_INPUTS, "seed": 20_000 + index}
            started = time.perf_counter()
            gateway_files = await gateway_side.run_job(session, base_url, inputs)
            through.append(time.perf_counter() - started)
            if not files or len(files) != len(gateway_files):
                raise RuntimeError(f"outputs differ: {len(files)} direct, {len(gateway_files)}")
    return direct, through


def _measure(mode: Mode) -> None:
    with running_stack(ZERO_STEP_TIME, mode) as stack:
        asyncio.run(_alternating(stack.comfyui_url, stack.base_url, WARMUP))
        direct, through = asyncio.run(_alternating(stack.comfyui_url, stack.base_url, RUNS))
    print(f"{mode.name:9s} direct to ComfyUI  : {summary_ms(direct)}")
    print(f"{mode.name:9s} through the gateway: {summary_ms(through)}")
    p50_target, p99_target = TARGETS_MS[mode.name]
    for label, fraction, target in (("p50", 0.5, p50_target), ("p99", 0.99, p99_target)):
        direct_ms = percentile(direct, fraction) * 1000
        gateway_ms = percentile(through, fraction) * 1000
        added = gateway_ms - direct_ms
        record(
            Figure(
                "latency",
                mode.name,
                f"job {label} through gateway",
                gateway_ms,
                "ms",
                baseline=direct_ms,
                baseline_name="direct",
            )
        )
        record(
            Figure(
                "latency",
                mode.name,
                f"added latency {label}",
                added,
                "ms",
                target=f"<= {target:.0f} ms" if target is not None else "",
                met=None if target is None else added <= target,
            )
        )


def run() -> None:
    heading(f"(a) added latency per job: {RUNS} jobs each side, alternating, zero step time")
    for mode in MODES:
        _measure(mode)
