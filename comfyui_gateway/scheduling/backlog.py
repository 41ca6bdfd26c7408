"""Waiting work per model: the autoscaling signal (a backend is added for the models
whose queue grows or ages), exported as ``comfyui_gateway_model_queue_*`` metrics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from comfyui_gateway.scheduling.entry import QueueEntry

NO_MODEL = "none"
"""The ``model`` label of jobs whose graph loads no model."""


@dataclass(frozen=True)
class ModelBacklog:
    depth: int
    oldest_age_s: float


def model_backlog(entries: Iterable[QueueEntry], now: float) -> dict[str, ModelBacklog]:
    """Per model name: how many waiting jobs load it and how long the oldest waited (a
    job loading several models counts under each)."""
    depth: dict[str, int] = {}
    oldest: dict[str, float] = {}
    for entry in entries:
        for model in entry.models or (NO_MODEL,):
            depth[model] = depth.get(model, 0) + 1
            oldest[model] = min(oldest.get(model, entry.queued_at), entry.queued_at)
    return {m: ModelBacklog(depth[m], max(0.0, now - oldest[m])) for m in sorted(depth)}
