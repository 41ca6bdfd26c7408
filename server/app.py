"""The grpc.aio server: services, standard health, reflection, interceptors.

``build_server`` wires a server from ready-made collaborators (``ServerDeps``) and
the service implementations; the composition root (the CLI) decides which
implementations run. ``GrpcServer`` owns start, readiness and graceful stop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from comfyui_gateway.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    metrics_pb2,
    metrics_pb2_grpc,
    outputs_pb2,
    outputs_pb2_grpc,
    workflows_pb2,
    workflows_pb2_grpc,
)
from server.interceptors.admission import Admission
from server.interceptors.request_context import RequestContextInterceptor

log = logging.getLogger("comfyui_gateway.server")

SERVICE_NAMES = (
    gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name,
    workflows_pb2.DESCRIPTOR.services_by_name["WorkflowService"].full_name,
    jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    outputs_pb2.DESCRIPTOR.services_by_name["OutputService"].full_name,
    audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
    metrics_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
)


@dataclass
class Services:
    """One implementation per service of the contract."""

    gateway: gateway_pb2_grpc.GatewayServiceServicer
    workflows: workflows_pb2_grpc.WorkflowServiceServicer
    jobs: jobs_pb2_grpc.JobServiceServicer
    outputs: outputs_pb2_grpc.OutputServiceServicer
    audit: audit_pb2_grpc.AuditServiceServicer
    metrics: metrics_pb2_grpc.MetricsServiceServicer


class GrpcServer:
    """A started-or-not gRPC server bound to ``host:port`` (port 0 = pick a free one)."""

    def __init__(
        self,
        services: Services,
        host: str,
        port: int,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        admission: Admission | None = None,
        outer_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        # outer_interceptors wrap everything (telemetry: spans and refusal counters).
        self._server = grpc.aio.server(
            interceptors=[*outer_interceptors, RequestContextInterceptor(admission), *interceptors],
            options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
                # Above the edge's 32 KiB header limit: a large header is Envoy's 431,
                # never gRPC's RESOURCE_EXHAUSTED (which REST would show as 429).
                ("grpc.max_metadata_size", 64 * 1024),
                ("grpc.absolute_max_metadata_size", 64 * 1024),
            ],
        )
        self._health = health.aio.HealthServicer()
        self._register(services)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot bind the gRPC server to {host}:{port}")
        self.host = host

    def _register(self, services: Services) -> None:
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server(services.gateway, self._server)
        workflows_pb2_grpc.add_WorkflowServiceServicer_to_server(services.workflows, self._server)
        jobs_pb2_grpc.add_JobServiceServicer_to_server(services.jobs, self._server)
        outputs_pb2_grpc.add_OutputServiceServicer_to_server(services.outputs, self._server)
        audit_pb2_grpc.add_AuditServiceServicer_to_server(services.audit, self._server)
        metrics_pb2_grpc.add_MetricsServiceServicer_to_server(services.metrics, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        await self._server.start()
        await self._set_serving(health_pb2.HealthCheckResponse.SERVING)
        log.info("gRPC server listening", extra={"address": self.address})

    async def stop(self, grace_s: float = 5.0) -> None:
        """Report NOT_SERVING first (so Envoy stops routing here), then drain calls."""
        await self._set_serving(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.stop(grace_s)
        log.info("gRPC server stopped", extra={"address": self.address})

    async def wait(self) -> None:
        await self._server.wait_for_termination()

    async def _set_serving(self, status: Any) -> None:
        await self._health.set("", status)
        for name in SERVICE_NAMES:
            await self._health.set(name, status)
