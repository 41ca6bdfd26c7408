"""(c) Jobs accepted per second through REST (each one durably stored before its 202)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench.common import SMALL_INPUTS, WORKFLOW, heading, running_stack

JOBS = 400
CONCURRENCY = 16


async def _submit_all(base_url: str) -> tuple[float, int]:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    accepted = 0

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal accepted
        async with semaphore:
            body = {"workflowId": WORKFLOW, "inputs": {**SMALL_INPUTS, "seed": index}}
            async with session.post(f"{base_url}/jobs", json=body) as response:
                if response.status == 202:
                    accepted += 1

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(one(session, index) for index in range(JOBS)))
        return time.perf_counter() - started, accepted


async def _health_rate(base_url: str) -> float:
    """Baseline: the cheapest call through the same edge, at the same concurrency."""
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(session: aiohttp.ClientSession) -> None:
        async with semaphore, session.get(f"{base_url}/health") as response:
            await response.read()

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(one(session) for _ in range(JOBS)))
        return JOBS / (time.perf_counter() - started)


def run() -> dict[str, float]:
    heading(f"(c) submission rate: {JOBS} POST /jobs, {CONCURRENCY} concurrent clients")
    figures = {}
    for mode, workers in (("embedded (SQLite)", 0), ("redis (RQ, SQLite)", 1)):
        with running_stack({"COMFYUI_EMULATOR_STEP_MS": "1000"}, workers=workers) as stack:
            baseline = asyncio.run(_health_rate(stack.base_url))
            elapsed, accepted = asyncio.run(_submit_all(stack.base_url))
        rate = accepted / elapsed
        figures[mode] = rate
        print(
            f"{mode:20s}: {rate:7.1f} jobs/s accepted ({accepted}/{JOBS}); "
            f"GET /health baseline {baseline:7.1f} req/s; ratio {rate / baseline:.2f}"
        )
    return figures
