"""Prometheus metrics computed from shared state at scrape time.

Every figure comes from what all processes share — the jobs database, the queue,
the backend reports and a few Redis counters — so any server replica answers any
scrape with the same numbers and worker processes need no scrape port.

Usage::

    figures = await gather_figures(sources)
    text = render(figures)          # Prometheus text format 0.0.4
"""

from comfyui_gateway.metrics.counters import Counters, MemoryCounters, RedisCounters
from comfyui_gateway.metrics.exposition import CONTENT_TYPE, render
from comfyui_gateway.metrics.figures import Figures, MetricSources, gather_figures

__all__ = [
    "CONTENT_TYPE",
    "Counters",
    "Figures",
    "MemoryCounters",
    "MetricSources",
    "RedisCounters",
    "gather_figures",
    "render",
]
