"""Trace context across process boundaries, in W3C Trace Context form.

Inbound: gRPC metadata (Envoy forwards the client's ``traceparent`` header as
metadata). Across the queue: the job row keeps the ``traceparent`` of the call that
created it, so whichever worker runs the job — now, after a retry, or after recovery —
continues the same trace. Outbound: HTTP headers to ComfyUI and webhook receivers.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def extract_context(carrier: Mapping[str, str]) -> otel_context.Context:
    """The remote parent named by ``traceparent``/``tracestate`` in ``carrier`` (lowercase
    keys, as gRPC metadata is); an empty context when there is none or it is malformed."""
    return _PROPAGATOR.extract(carrier=dict(carrier))


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, or None outside a valid span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    if not traceparent:
        return otel_context.Context()
    return extract_context({"traceparent": traceparent})


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus the current span's ``traceparent`` (when there is one)."""
    result = dict(headers or {})
    _PROPAGATOR.inject(result)
    return result
