"""(g) CPU per job: what each process of the stack burns for one job, beside ComfyUI's own.

Wall-clock latency on this 2-core machine is mostly CPU: a job the gateway spends 25 ms
of CPU on cannot finish in less, however little it waits. This bench runs jobs one by
one (zero step time) and reads each process's user+system time from ``/proc`` before
and after: server, each worker, Envoy and the emulator. The emulator's figure is the
baseline (the backend's own cost per job); the gateway's processes are the figure.
``BENCH_CPU_PROFILE=1`` also records a py-spy profile of the server and every worker
(raw collapsed stacks under ``bench-profiles/``, for speedscope or flamegraph.pl).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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

JOBS = int(os.environ.get("BENCH_CPU_JOBS", "200"))
WARMUP = 10
PROFILE_DIR = Path("bench-profiles")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads), from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_pids(stack: GatewayStack) -> dict[str, int]:
    """The processes whose CPU a job costs, by role."""
    roles = {"server": stack.server_process, "envoy": stack.envoy_process}
    roles |= {f"worker-{i}": process for i, process in enumerate(stack.worker_processes)}
    roles["emulator"] = stack.emulator_process
    return {name: process.pid for name, process in roles.items() if process is not None}


async def _jobs(base_url: str, count: int, first_seed: int) -> float:
    """Run ``count`` jobs one after another; the mean wall time of one."""
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        for index in range(count):
            inputs = {**SMALL_INPUTS, "seed": first_seed + index}
            await gateway_side.run_job(session, base_url, inputs)
        return (time.perf_counter() - started) / count


@contextmanager
def _profiles(mode: Mode, pids: dict[str, int]) -> Iterator[None]:
    """py-spy on the gateway's own processes while the block runs (when asked for)."""
    if os.environ.get("BENCH_CPU_PROFILE") != "1":
        yield
        return
    PROFILE_DIR.mkdir(exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    spies = [
        subprocess.Popen(
            [
                spy,
                "record",
                "-p",
                str(pid),
                "-r",
                "500",
                "-f",
                "raw",
                "--nonblocking",
                "-o",
                str(PROFILE_DIR / f"{mode.name}-{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
        if name == "server" or name.startswith("worker")
    ]
    time.sleep(1.0)  # py-spy attaches before the first measured job
    try:
        yield
    finally:
        for process in spies:
            process.send_signal(signal.SIGINT)
            process.wait()
        print(f"{mode.name:9s} py-spy profiles in {PROFILE_DIR}/")


def _measure(mode: Mode) -> None:
    with running_stack(ZERO_STEP_TIME, mode) as stack:
        asyncio.run(_jobs(stack.base_url, WARMUP, 0))
        pids = stack_pids(stack)
        with _profiles(mode, pids):
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            wall_s = asyncio.run(_jobs(stack.base_url, JOBS, 1_000))
            after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    per_job_ms = {name: (after[name] - before[name]) / JOBS * 1000 for name in pids}
    backend_ms = per_job_ms.pop("emulator")
    print(f"{mode.name:9s} one job at a time: {wall_s * 1000:.1f} ms wall per job")
    gateway_ms = 0.0
    for name, value in per_job_ms.items():
        print(f"{mode.name:9s}   {name:10s} {value:6.2f} ms CPU per job")
        gateway_ms += value if name != "envoy" else 0.0
    record(
        Figure(
            "cpu",
            mode.name,
            "gateway CPU per job (not Envoy)",
            gateway_ms,
            "ms",
            baseline=backend_ms,
            baseline_name="backend",
        )
    )
    record(Figure("cpu", mode.name, "Envoy CPU per job", per_job_ms["envoy"], "ms"))


def run() -> None:
    heading(f"(g) CPU per job: {JOBS} jobs one at a time, zero step time, from /proc")
    for mode in MODES:
        _measure(mode)
