"""GatewayService: GET /health, GET /capabilities and GET /openapi.json."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from google.api import httpbody_pb2

from comfyui_gateway import __version__
from comfyui_gateway.backends import BackendReport
from comfyui_gateway.db.queries.workflows import WorkflowRepository
from comfyui_gateway.v1 import gateway_pb2, gateway_pb2_grpc
from server.convert import struct_from, timestamp_from
from server.deps import ServerDeps

OUTPUT_FORMATS = ("png", "jpg", "webp")
# The REST surface's OpenAPI document, package data written by `make clients`.
OPENAPI_DOCUMENT = "openapi.json"


class GatewayService(gateway_pb2_grpc.GatewayServiceServicer):
    """Health from what workers report about each backend; never a call to ComfyUI."""

    def __init__(self, deps: ServerDeps) -> None:
        self._deps = deps

    async def GetHealth(
        self, request: gateway_pb2.GetHealthRequest, context: Any
    ) -> gateway_pb2.Health:
        reports = await self._deps.backend_reports.latest()
        backends = [
            _backend_health(url, reports.get(url)) for url in self._deps.settings.comfyui_urls
        ]
        primary = backends[0]
        primary_report = reports.get(primary.url)
        models = primary_report.models if primary_report and primary_report.models else None
        return gateway_pb2.Health(
            ok=any(backend.reachable for backend in backends),
            version=__version__,
            comfyui=gateway_pb2.ComfyUIHealth(
                reachable=primary.reachable, url=primary.url, models=struct_from(models)
            ),
            uptime=round(time.monotonic() - self._deps.started_at, 3),
            backends=backends,
        )

    async def GetCapabilities(
        self, request: gateway_pb2.GetCapabilitiesRequest, context: Any
    ) -> gateway_pb2.Capabilities:
        settings = self._deps.settings
        async with self._deps.sessions() as session:
            workflows = await WorkflowRepository(session).list()
            summaries = [
                gateway_pb2.WorkflowSummary(id=w.id, name=w.name, description=w.description)
                for w in workflows
            ]
        reports = await self._deps.backend_reports.latest()
        return gateway_pb2.Capabilities(
            workflows=summaries,
            max_size=settings.MAX_IMAGE_SIZE,
            max_batch=settings.MAX_BATCH_SIZE,
            formats=list(OUTPUT_FORMATS),
            storage_provider=settings.STORAGE_PROVIDER.value,
            models=struct_from(_merged_models(reports.values()) or None),
        )

    async def GetOpenApiDocument(
        self, request: gateway_pb2.GetOpenApiDocumentRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        return httpbody_pb2.HttpBody(content_type="application/json", data=_openapi_document())


@cache
def _openapi_document() -> bytes:
    """Read once: the document is generated from the protos and never changes at run time."""
    return resources.files("comfyui_gateway").joinpath(OPENAPI_DOCUMENT).read_bytes()


def _backend_health(url: str, report: BackendReport | None) -> gateway_pb2.BackendHealth:
    if report is None:
        return gateway_pb2.BackendHealth(url=url, reachable=False)
    return gateway_pb2.BackendHealth(
        url=url,
        reachable=report.reachable and report.is_fresh(),
        queue_remaining=report.queue_remaining,
        comfyui_version=report.comfyui_version,
        last_seen=timestamp_from(datetime.fromtimestamp(report.reported_at, tz=UTC)),
    )


def _merged_models(reports: Iterable[BackendReport]) -> dict[str, list[str]]:
    """Models any reachable backend offers, by folder, for a caller choosing inputs."""
    merged: dict[str, set[str]] = {}
    for report in reports:
        if report.reachable and report.is_fresh():
            for folder, names in report.models.items():
                merged.setdefault(folder, set()).update(names)
    return {folder: sorted(names) for folder, names in sorted(merged.items())}
