"""OpenTelemetry tracing: set-up from the standard ``OTEL_*`` variables, and the few
helpers that carry one job's trace from the API call through the queue to the worker.

The composition root calls ``configure_tracing`` once per process; everything else
asks ``tracer()`` for spans. Without OTLP configuration spans are still created (so
trace ids reach the logs and the worker) but nothing is exported.
"""

from comfyui_gateway.tracing.carrier import (
    context_from_traceparent,
    current_traceparent,
    extract_context,
    inject_headers,
)
from comfyui_gateway.tracing.jobs import job_span, webhook_span
from comfyui_gateway.tracing.setup import TracingHandle, configure_tracing
from comfyui_gateway.tracing.spans import child_span, mark_error, set_attributes, tracer

__all__ = [
    "TracingHandle",
    "child_span",
    "configure_tracing",
    "context_from_traceparent",
    "current_traceparent",
    "extract_context",
    "inject_headers",
    "job_span",
    "mark_error",
    "set_attributes",
    "tracer",
    "webhook_span",
]
