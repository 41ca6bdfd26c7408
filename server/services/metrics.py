"""MetricsService: GET /metrics, Prometheus text computed from shared state per scrape.

The figures come from the database, the queue, the backend reports and the shared
counters (``comfyui_gateway.metrics``), so scraping any replica gives the same
answer. Admins only when auth is on: the backend label carries internal addresses.
"""

from __future__ import annotations

from typing import Any

from google.api import httpbody_pb2

from comfyui_gateway.metrics import CONTENT_TYPE, MetricSources, gather_figures, render
from comfyui_gateway.v1 import metrics_pb2, metrics_pb2_grpc
from server.services.workflows import require_admin


class MetricsService(metrics_pb2_grpc.MetricsServiceServicer):
    def __init__(self, sources: MetricSources) -> None:
        self._sources = sources

    async def GetMetrics(
        self, request: metrics_pb2.GetMetricsRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        require_admin()
        figures = await gather_figures(self._sources)
        return httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=render(figures))
