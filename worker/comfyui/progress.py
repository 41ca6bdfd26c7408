"""An overall 0-100 estimate for one prompt, from the graph and the events seen so far.

ComfyUI reports per-node state and per-step sampler progress but no overall figure. Each
node of the graph weighs 1, and a node with a ``steps`` input (a sampler) weighs 1 more per
step, since sampling dominates the run time. Cached nodes count as done at once. Without
the graph the estimate falls back to the current sampler's fraction. The figure never goes
down and stays below 100 until the prompt is finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.comfyui.events import (
    Event,
    ExecutionStarted,
    Finished,
    NodeExecuted,
    NodesCached,
    NodeStarted,
    NodeStates,
    StepProgress,
)

RUNNING_CAP = 99.0


def _weight(node: Any) -> float:
    inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
    steps = inputs.get("steps") if isinstance(inputs, dict) else None
    return 1.0 + float(steps) if isinstance(steps, int) and steps > 0 else 1.0


class ProgressTracker:
    """Feed it every event with ``update``; read ``percent``.

    Usage: ``tracker = ProgressTracker(graph); pct = tracker.update(event)``.
    """

    def __init__(self, graph: Mapping[str, Any] | None = None) -> None:
        self._graph = dict(graph or {})
        self._weights = {str(node_id): _weight(node) for node_id, node in self._graph.items()}
        self._total = sum(self._weights.values())
        self._done: dict[str, float] = {}
        self._current: str | None = None
        self.percent = 0.0

    def node_type(self, node: str) -> str | None:
        entry = self._graph.get(node)
        class_type = entry.get("class_type") if isinstance(entry, dict) else None
        return class_type if isinstance(class_type, str) else None

    def update(self, event: Event) -> float:
        """Account for ``event`` and return the new estimate."""
        if isinstance(event, Finished):
            self.percent = 100.0
            return self.percent
        if isinstance(event, ExecutionStarted):
            self._raise_to(1.0)
        elif isinstance(event, NodesCached):
            for node in event.nodes:
                self._finish(node)
        elif isinstance(event, NodeStarted):
            if self._current is not None and self._current != event.node:
                self._finish(self._current)
            self._current = event.node
        elif isinstance(event, StepProgress):
            fraction = min(1.0, max(0.0, event.value / event.max)) if event.max > 0 else 0.0
            weight = self._weights.get(event.node)
            if weight is None:
                self._raise_to(5.0 + 90.0 * fraction)
            else:
                self._done[event.node] = max(self._done.get(event.node, 0.0), weight * fraction)
        elif isinstance(event, NodeStates):
            for node, state in event.nodes.items():
                if state.state == "finished":
                    self._finish(node)
        elif isinstance(event, NodeExecuted):
            self._finish(event.node)
        if self._total > 0:
            done = sum(min(value, self._weights.get(n, 0.0)) for n, value in self._done.items())
            self._raise_to(100.0 * done / self._total)
        return self.percent

    def _finish(self, node: str) -> None:
        if node in self._weights:
            self._done[node] = self._weights[node]

    def _raise_to(self, value: float) -> None:
        self.percent = max(self.percent, round(min(RUNNING_CAP, value), 1))
