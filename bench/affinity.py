"""Model affinity: two backends, two checkpoints, jobs alternating between them.

Each emulator pays ``COMFYUI_EMULATOR_LOAD_MS`` whenever a prompt needs a checkpoint
it does not hold (it holds the last prompt's, as ComfyUI's default cache does). With
``SCHEDULER_AFFINITY=false`` the gateway hands out jobs in arrival order, so a backend
keeps switching; with it on, each backend keeps one checkpoint. Both runs happen here,
one after the other, on fresh stacks; switches are read from each emulator's
``GET /emulator/models``, busy fraction from ComfyUI's own history.
"""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.common import Figure, heading, record
from tests.scheduling_helpers import (
    CHECKPOINTS,
    busy_fraction,
    emulators,
    gateway,
    loads,
    submit,
    wait_terminal,
)
from tests.stack import GatewayStack

JOBS = 48
LOAD_MS = 300
STEP_MS = 20
STEPS = 5
CLIENTS = 4
CONCURRENCY = 2
"""Two prompts in flight per backend (the setting that keeps a GPU busy while outputs
are stored, see ``bench busy``): in arrival order a backend then takes two
consecutive jobs, which here always need different checkpoints."""


@dataclass(frozen=True)
class Run:
    total_s: float
    submit_s: float
    loads: int
    busy: tuple[float, ...]


def _submit_all(stack: GatewayStack) -> list[str]:
    """Every job, from a few client threads, in order of seed (alternating checkpoints)
    as fast as the gateway accepts them, so that the run measures the backends."""
    local = threading.local()

    def one(seed: int) -> str:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        checkpoint = CHECKPOINTS[seed % 2]
        return submit(local.session, stack, checkpoint=checkpoint, seed=seed, steps=STEPS)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(JOBS)))


def _run(affinity: bool, workers: int) -> Run:
    emulator_env = {
        "COMFYUI_EMULATOR_STEP_MS": str(STEP_MS),
        "COMFYUI_EMULATOR_LOAD_MS": str(LOAD_MS),
    }
    env = {
        "LOG_LEVEL": "warn",
        "MAX_CONCURRENCY": str(CONCURRENCY),
        "SCHEDULER_AFFINITY": str(affinity).lower(),
        "CACHE_ENABLED": "false",
    }
    with tempfile.TemporaryDirectory(prefix="cgw-bench-affinity-") as folder:
        workdir = Path(folder)
        with emulators(workdir, 2, emulator_env) as backends:
            urls = [b.base_url for b in backends]
            with gateway(workdir / "gw", urls, env, workers=workers) as stack:
                started = time.perf_counter()
                ids = _submit_all(stack)
                submitted = time.perf_counter() - started
                wait_terminal(requests.Session(), stack, ids, timeout_s=600)
                total = time.perf_counter() - started
                return Run(
                    total,
                    submitted,
                    sum(len(loads(url)) for url in urls),
                    tuple(busy_fraction(url) for url in urls),
                )


def _line(name: str, run: Run) -> str:
    busy = " / ".join(f"{b:.0%}" for b in run.busy)
    switches = run.loads - 2  # the first load on each backend is no switch
    return (
        f"{name:13} total {run.total_s:6.2f} s (submitting {run.submit_s:5.2f} s)  "
        f"loads {run.loads:3d} (switches {switches:3d})  busy {busy}"
    )


def run() -> None:
    heading(
        f"model affinity: {JOBS} jobs alternating 2 checkpoints on 2 backends, "
        f"load {LOAD_MS} ms, {STEPS} steps x {STEP_MS} ms, MAX_CONCURRENCY {CONCURRENCY}"
    )
    for mode, workers in (("embedded", 0), ("rq", CONCURRENCY)):
        off = _run(affinity=False, workers=workers)
        print(_line(f"{mode} off", off), flush=True)
        on = _run(affinity=True, workers=workers)
        print(_line(f"{mode} on", on), flush=True)
        ratio = on.total_s / off.total_s
        print(f"{mode}: total time on/off {ratio:.2f}x, loads on/off {on.loads}/{off.loads}")
        record(
            Figure(
                "affinity",
                mode,
                "total time, affinity on",
                on.total_s,
                "s",
                off.total_s,
                "affinity off",
            )
        )
        record(
            Figure(
                "affinity",
                mode,
                "checkpoint loads, affinity on",
                on.loads,
                "loads",
                off.loads,
                "affinity off",
            )
        )
