"""Execution time per workflow and size, fitted on recent finished jobs.

Per workflow: with samples of at least two sizes, a least-squares line
``seconds = a + b x work`` (a, b >= 0: a fixed cost plus a per-unit cost); with one
size only, the median scaled by work. A workflow with no samples borrows the median
seconds-per-unit of all workflows; with no samples at all, ``DEFAULT_EXECUTION_S``.
Medians, not means: one job that paid a model load must not move every ETA.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_EXECUTION_S = 10.0
"""A guess for the very first job of a gateway (no measurements yet)."""
MIN_FIT_SAMPLES = 3


@dataclass(frozen=True)
class Sample:
    """One finished job: its workflow, work units (``work_units``) and execution seconds."""

    workflow_id: str
    work: float
    seconds: float


@dataclass(frozen=True)
class _Line:
    fixed: float
    per_unit: float

    def at(self, work: float) -> float:
        return self.fixed + self.per_unit * work


class ExecutionEstimator:
    """Seconds a job of ``workflow_id`` and ``work`` units should run::

    estimator = ExecutionEstimator([Sample("icon_512", 20.0, 1.9), ...])
    estimator.seconds("icon_512", 20.0)
    """

    def __init__(self, samples: Iterable[Sample], default_s: float = DEFAULT_EXECUTION_S) -> None:
        by_workflow: dict[str, list[Sample]] = defaultdict(list)
        for sample in samples:
            if sample.seconds >= 0 and sample.work > 0:
                by_workflow[sample.workflow_id].append(sample)
        self._lines = {wf: _fit(items) for wf, items in by_workflow.items()}
        rates = [s.seconds / s.work for items in by_workflow.values() for s in items]
        self._rate = statistics.median(rates) if rates else None
        every = [s.seconds for items in by_workflow.values() for s in items]
        self._typical_s = statistics.median(every) if every else default_s
        self._default_s = default_s

    @property
    def measured(self) -> bool:
        return self._rate is not None

    def typical_seconds(self) -> float:
        """The median execution of all samples (``default_s`` with none)."""
        return self._typical_s

    def seconds(self, workflow_id: str, work: float) -> float:
        line = self._lines.get(workflow_id)
        if line is not None:
            return max(0.0, line.at(work))
        if self._rate is not None:
            return self._rate * work
        return self._default_s


def _fit(samples: list[Sample]) -> _Line:
    works = [s.work for s in samples]
    seconds = [s.seconds for s in samples]
    if len(samples) >= MIN_FIT_SAMPLES and len(set(works)) >= 2:
        slope, intercept = statistics.linear_regression(works, seconds)
        if slope >= 0 and intercept >= 0:
            return _Line(intercept, slope)
        if slope >= 0:  # all cost scales with size
            return _Line(0.0, statistics.median(s / w for s, w in zip(seconds, works, strict=True)))
    median_s = statistics.median(seconds)
    median_work = statistics.median(works)
    return _Line(0.0, median_s / median_work)
