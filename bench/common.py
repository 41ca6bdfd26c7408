"""Shared pieces of the benchmarks: the two modes, stacks, graphs, statistics, printing.

Every figure is printed beside a baseline measured in the same run (absolute numbers
drift on a shared machine) and, where issue 13 sets one, its target; ``FIGURES`` keeps
them all so ``python -m bench`` can close with one table.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comfyui_gateway.workflows.bundled import load_bundled_workflow
from comfyui_gateway.workflows.inputs import InputLimits
from comfyui_gateway.workflows.prepare import prepare_prompt
from tests.stack import GatewayStack, fresh_postgres_database

WORKFLOW = "icon_512"
SMALL_INPUTS: dict[str, Any] = {"prompt": "bench", "width": 64, "height": 64, "steps": 5}
ZERO_STEP_TIME = {
    "COMFYUI_EMULATOR_STEP_MS": "0",
    "COMFYUI_EMULATOR_NODE_MS": "0",
    "COMFYUI_EMULATOR_LOAD_MS": "0",
}
"""The emulator as fast as it goes: what is left of a job is the gateway's own cost."""


@dataclass(frozen=True)
class Mode:
    """How the gateway runs: in-process workers on SQLite, or RQ workers on Redis +
    PostgreSQL (the production shape)."""

    name: str
    workers: int
    postgres: bool


EMBEDDED = Mode("embedded", workers=0, postgres=False)
RQ = Mode("rq+pg", workers=1, postgres=True)
MODES = tuple(
    mode
    for mode in (EMBEDDED, RQ)
    if mode.name in os.environ.get("BENCH_MODES", "embedded,rq+pg").split(",")
)
"""The modes every bench runs in; ``BENCH_MODES=embedded`` narrows them (profiling)."""


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its same-run baseline and, if any, its target."""

    bench: str
    mode: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None

    def line(self) -> str:
        text = f"{self.mode:9s} {self.name:34s} {self.value:9.1f} {self.unit:6s}"
        if self.baseline is not None:
            ratio = self.value / self.baseline if self.baseline else float("inf")
            text += f" | {self.baseline_name} {self.baseline:8.1f} | ratio {ratio:5.2f}x"
        if self.target:
            verdict = "" if self.met is None else ("met" if self.met else "MISSED")
            text += f" | target {self.target} {verdict}"
        return text


FIGURES: list[Figure] = []


def record(figure: Figure) -> Figure:
    """Print ``figure`` and keep it for the closing table."""
    FIGURES.append(figure)
    print(figure.line(), flush=True)
    return figure


@contextlib.contextmanager
def running_stack(
    env: dict[str, str], mode: Mode = EMBEDDED, *, extra_env: dict[str, str] | None = None
) -> Iterator[GatewayStack]:
    """A gateway + emulator on free ports in ``mode``, bundled workflows registered
    (by ``init``, before the gateway starts: the database is migrated ahead, as a
    deployment's migrate job does, so the processes measured are the steady ones)."""
    with contextlib.ExitStack() as resources:
        workdir = resources.enter_context(tempfile.TemporaryDirectory(prefix="cgw-bench-"))
        settings = {"LOG_LEVEL": "warn", **env, **(extra_env or {})}
        if mode.postgres:
            settings["DATABASE_URL"] = resources.enter_context(fresh_postgres_database())
        stack = GatewayStack(Path(workdir), settings, emulator=True, workers=mode.workers)
        stack.register_bundled_workflows()
        resources.enter_context(stack)
        yield stack


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
