"""The tracer provider of one process, configured from the standard ``OTEL_*`` variables.

Export happens only when the environment asks for it — ``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set, or ``OTEL_TRACES_EXPORTER=otlp|console``
— and ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` turns it off. The
protocol follows ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`` (``http/protobuf`` by
default, as the specification says, or ``grpc``). Sampling (``OTEL_TRACES_SAMPLER``),
batching (``OTEL_BSP_*``), headers, timeouts and resource attributes
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) are read by the SDK itself.

Even without an exporter an SDK provider is installed: spans then still get real ids,
so a client's ``traceparent`` reaches the logs, the job and the worker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

from comfyui_gateway import __version__

log = logging.getLogger("comfyui_gateway.tracing")

SERVICE_PREFIX = "comfyui-gateway"


@dataclass
class TracingHandle:
    """What ``configure_tracing`` set up; ``shutdown()`` flushes spans before exit."""

    provider: TracerProvider | None
    exporting: str = ""

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def configure_tracing(component: str, environ: Mapping[str, str] | None = None) -> TracingHandle:
    """Install this process's tracer provider (once, from the composition root)."""
    handle = build_tracing(component, environ)
    if handle.provider is not None:
        trace.set_tracer_provider(handle.provider)
    return handle


def build_tracing(component: str, environ: Mapping[str, str] | None = None) -> TracingHandle:
    """The provider ``configure_tracing`` would install, without installing it."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return TracingHandle(provider=None)
    service = env.get("OTEL_SERVICE_NAME") or f"{SERVICE_PREFIX}-{component}"
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": SERVICE_PREFIX,
            "service.version": __version__,
        }
    )
    provider = TracerProvider(resource=resource)
    exporter, described = _exporter(env)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
        log.info("exporting traces", extra={"exporter": described, "service": service})
    return TracingHandle(provider=provider, exporting=described)


def _exporter(env: Mapping[str, str]) -> tuple[SpanExporter | None, str]:
    choice = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if choice == "none" or (not choice and not endpoint):
        return None, ""
    if choice == "console":
        return ConsoleSpanExporter(), "console"
    if choice not in ("", "otlp"):
        raise ValueError(f"OTEL_TRACES_EXPORTER: {choice!r} is not supported (otlp, console)")
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(), f"otlp grpc {endpoint or 'default endpoint'}"
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter(), f"otlp http/protobuf {endpoint or 'default endpoint'}"
    raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported")
