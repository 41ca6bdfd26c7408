"""(c) Jobs accepted per second through REST, against ``GET /health`` through the same
Envoy at the same concurrency. Every 202 means the job row is committed (SPEC).
Target (issue 13): ≥ 0.3 times the health rate at 16 concurrent clients."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import aiohttp

from bench.common import MODES, SMALL_INPUTS, WORKFLOW, Figure, Mode, heading, record, running_stack

JOBS = int(os.environ.get("BENCH_SUBMIT_JOBS", "400"))
CONCURRENCY = 16
TARGET_RATIO = 0.3


async def _rate(call: Callable[[aiohttp.ClientSession, int], Awaitable[bool]]) -> float:
    """``JOBS`` calls at ``CONCURRENCY`` at a time: successful calls per second."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    done = 0

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal done
        async with semaphore:
            succeeded = await call(session, index)  # (`done += await` would lose updates)
        done += succeeded

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(one(session, index) for index in range(JOBS)))
        return done / (time.perf_counter() - started)


def _calls(base_url: str) -> tuple[Callable[..., Awaitable[bool]], Callable[..., Awaitable[bool]]]:
    async def health(session: aiohttp.ClientSession, index: int) -> bool:
        async with session.get(f"{base_url}/health") as response:
            await response.read()
            return response.status == 200

    async def submit(session: aiohttp.ClientSession, index: int) -> bool:
        body = {"workflowId": WORKFLOW, "inputs": {**SMALL_INPUTS, "seed": index}}
        async with session.post(f"{base_url}/jobs", json=body) as response:
            await response.read()
            return response.status == 202

    return health, submit


def _measure(mode: Mode) -> None:
    # Slow steps: the burst is admission and storage only, not execution competing for CPU.
    with running_stack({"COMFYUI_EMULATOR_STEP_MS": "1000"}, mode) as stack:
        health, submit = _calls(stack.base_url)
        asyncio.run(_rate(health))  # warm both paths (connections, caches)
        baseline = asyncio.run(_rate(health))
        rate = asyncio.run(_rate(submit))
    ratio = rate / baseline
    record(
        Figure(
            "submit",
            mode.name,
            f"POST /jobs accepted ({CONCURRENCY} clients)",
            rate,
            "/s",
            baseline=baseline,
            baseline_name="GET /health",
            target=f">= {TARGET_RATIO}x",
            met=ratio >= TARGET_RATIO,
        )
    )


def run() -> None:
    heading(f"(c) submission rate: {JOBS} POST /jobs at {CONCURRENCY} concurrent clients")
    for mode in MODES:
        _measure(mode)
