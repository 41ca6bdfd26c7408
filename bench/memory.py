"""(e) Gateway memory: RSS of the server and worker processes (and their children; not
Envoy, not the emulator), read from ``/proc``, at rest and after a run of jobs.

At rest is after start-up and one job (imports, pools, caches warm). Target (issue 13):
≤ 200 MB at rest, and flat after 2,000 jobs: the ratio after/at-rest is the figure.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp

from bench import gateway_side
from bench.common import (
    MODES,
    SMALL_INPUTS,
    ZERO_STEP_TIME,
    Figure,
    Mode,
    heading,
    record,
    running_stack,
)
from tests.stack import GatewayStack

JOBS = int(os.environ.get("BENCH_MEMORY_JOBS", "2000"))
CONCURRENCY = 16
TARGET_MB = 200.0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(child) for child in children]
    return found


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def gateway_rss_mb(stack: GatewayStack) -> dict[str, float]:
    """RSS of the server and of each worker, each with everything it spawned."""
    roots = {"server": stack.server_process}
    roots |= {f"worker-{i}": process for i, process in enumerate(stack.worker_processes)}
    return {name: _tree_rss_mb(process.pid) for name, process in roots.items() if process}


def _tree_rss_mb(root: int) -> float:
    pending, total = [root], 0.0
    while pending:
        pid = pending.pop()
        try:
            total += _rss_mb(pid)
            pending += _children(pid)
        except FileNotFoundError:  # exited meanwhile
            continue
    return total


def _parts(rss: dict[str, float]) -> str:
    return ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items())


async def _jobs(base_url: str, count: int) -> None:
    """``count`` jobs, ``CONCURRENCY`` clients each submitting and following its own."""
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        async with semaphore:
            await gateway_side.run_job(session, base_url, {**SMALL_INPUTS, "seed": index})

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, index) for index in range(count)))


def _measure(mode: Mode) -> None:
    env = {**ZERO_STEP_TIME, "MAX_CONCURRENCY": "4"}
    with running_stack(env, mode) as stack:
        asyncio.run(_jobs(stack.base_url, 4))
        rest_parts = gateway_rss_mb(stack)
        started = time.perf_counter()
        asyncio.run(_jobs(stack.base_url, JOBS))
        elapsed = time.perf_counter() - started
        after_parts = gateway_rss_mb(stack)
    rest, after = sum(rest_parts.values()), sum(after_parts.values())
    print(
        f"{mode.name:9s} {JOBS} jobs in {elapsed:.1f} s ({JOBS / elapsed:.1f} jobs/s); "
        f"at rest {_parts(rest_parts)}; after {_parts(after_parts)}"
    )
    record(
        Figure(
            "memory",
            mode.name,
            "gateway RSS at rest",
            rest,
            "MB",
            target=f"<= {TARGET_MB:.0f} MB",
            met=rest <= TARGET_MB,
        )
    )
    record(
        Figure(
            "memory",
            mode.name,
            f"gateway RSS after {JOBS} jobs",
            after,
            "MB",
            baseline=rest,
            baseline_name="at rest",
            target=f"<= {TARGET_MB:.0f} MB, flat",
            met=after <= TARGET_MB,
        )
    )


def run() -> None:
    heading(f"(e) gateway memory (server + workers, RSS), at rest and after {JOBS} jobs")
    for mode in MODES:
        _measure(mode)
