"""Shared pieces of the benchmarks: stacks, graphs, statistics, printing."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from comfyui_gateway.workflows.bundled import load_bundled_workflow
from comfyui_gateway.workflows.inputs import InputLimits
from comfyui_gateway.workflows.prepare import prepare_prompt
from tests.stack import GatewayStack

WORKFLOW = "icon_512"
SMALL_INPUTS: dict[str, Any] = {"prompt": "bench", "width": 64, "height": 64, "steps": 5}


@contextlib.contextmanager
def running_stack(env: dict[str, str], *, workers: int = 0) -> Iterator[GatewayStack]:
    """A gateway + emulator on free ports, with the bundled workflows registered."""
    with tempfile.TemporaryDirectory(prefix="cgw-bench-") as workdir:
        stack = GatewayStack(
            Path(workdir), {"LOG_LEVEL": "warn", **env}, emulator=True, workers=workers
        )
        stack.start()
        try:
            subprocess.run(
                [sys.executable, "-m", "comfyui_gateway", "init"],
                env=stack.env,
                cwd=stack.workdir,
                check=True,
                capture_output=True,
                timeout=60,
            )
            yield stack
        finally:
            stack.stop()


def rendered_graph(seed: int, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The graph the gateway would send for ``icon_512`` with these inputs and seed."""
    definition = load_bundled_workflow(WORKFLOW)
    prepared = prepare_prompt(
        definition.workflow_json,
        definition.input_schema,
        definition.default_params,
        {**(inputs or SMALL_INPUTS), "seed": seed},
        InputLimits(2048, 4),
    )
    return prepared.graph


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: Sequence[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    mean = statistics.fmean(values) * 1000
    return f"p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  mean {mean:7.1f} ms  (n={len(values)})"


def heading(title: str) -> None:
    print(f"\n== {title}", flush=True)
